"""What a run of the workflow makes: the target files of `study`, `all`, the sweep and each view, from a `Plan`'s
runs (a mixin of `plan.Plan`)."""

from . import paths


class Targets:
    """The files each target rule asks for (study, all, sweep, geometry, the views, connectivity)."""

    def eigen_map_models(self, key: str = "maps") -> list[str]:
        """`geometry.maps` (or `geometry.hessian_planes`): null = every model, [] = none; models not in `models` are
        skipped."""
        maps = self.config["geometry"][key]
        return self.models if maps is None else [model for model in maps if model in self.models]

    def report_inputs(self) -> dict[str, list[str]]:
        """Every run's metrics, every trained run's history; the first run's surface of every model."""
        return {"metrics": [paths.METRICS.format(model=m) for m in self.all_runs()],
                "histories": [paths.HISTORY.format(model=m) for m in self.all_runs(trained_only=True)],
                "surfaces": [paths.SURFACE.format(plane="landscape", model=runs[0]) for runs in self.runs.values()]}

    def geometry_targets(self) -> list[str]:
        return [paths.GEOMETRY_TABLE, paths.GEOMETRY_TABLE_MD, paths.GEOMETRY_FIGURE, paths.CLAIMS, paths.CLAIMS_MD,
                *[paths.EIGEN_MAP_FIGURE.format(model=self.runs[m][0]) for m in self.eigen_map_models()],
                *([paths.DENSITY_FIGURE] if self.density_runs() else [])]

    def density_runs(self) -> list[str]:
        """The runs that get a Hessian eigenvalue density (geometry.density set): those of the geometry table."""
        return self.views_of("geometry") if self.config["geometry"]["density"] else []

    def paraview_targets(self) -> list[str]:
        return [paths.PARAVIEW.format(model=m) for m in self.views_of("landscape")]

    def view_targets(self, sweep: bool = True) -> list[str]:
        """loss-landscape's other views: 1-D curves (every run), interpolations, optimizer trajectories, ParaView."""
        pairs = [pair for pair in self.pairs if sweep or pair not in self.sweep_pairs]
        return [*[paths.LINE_FIGURE.format(model=m) for m in self.all_runs()],
                *[paths.INTERPOLATION_FIGURE.format(pair=pair) for pair in pairs],
                *[paths.TRAJECTORY_FIGURE.format(model=self.runs[m][0]) for m in self.trajectory_models],
                *self.paraview_targets(),
                *[paths.HESSIAN_PLANE_FIGURE.format(model=self.runs[m][0]) for m in self.eigen_map_models("hessian_planes")]]

    def connectivity_targets(self) -> list[str]:
        """Each seed pair's paths, and the table and figure across models (none without connectivity models)."""
        if not self.connectivity:
            return []
        return [paths.CONNECTIVITY_TABLE, paths.CONNECTIVITY_TABLE_MD, paths.CONNECTIVITY_FIGURE]

    def connectivity_paths(self) -> list[str]:
        return [paths.CONNECTIVITY.format(model=m, seeds=pair) for m, pairs in self.connectivity.items() for pair in pairs]

    def study_targets(self) -> list[str]:
        """Everything of the study's models (training, surfaces, views, geometry, connectivity, reports, the
        interactive page), without the Net sweep."""
        return [*[paths.LANDSCAPE_FIGURE.format(model=m) for m in self.views_of("landscape")], *self.report_inputs()["metrics"],
                paths.SUMMARY, paths.SUMMARY_MD, paths.TRAINING_CURVES, paths.LANDSCAPES_FIGURE,
                *self.view_targets(sweep=False), *self.geometry_targets(), *self.connectivity_targets(), paths.PAGE]

    def sweep_targets(self) -> list[str]:
        return [paths.SWEEP_TABLE, *[paths.SWEEP_TABLE_MD.format(lr=lr) for lr in self.sweep_lrs],
                *[paths.SWEEP_HEATMAP.format(lr=lr) for lr in self.sweep_lrs], paths.ABLATION]

    def all_targets(self) -> list[str]:
        return [*self.study_targets(), *self.sweep_targets(),
                *[paths.INTERPOLATION_FIGURE.format(pair=pair) for pair in self.sweep_pairs]]
