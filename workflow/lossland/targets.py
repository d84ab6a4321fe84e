"""What a run of the workflow makes: the target files of `study`, `all`, the sweep and each view, from a `Plan`'s
runs (a mixin of `plan.Plan`)."""


class Targets:
    """The files each target rule asks for (study, all, sweep, geometry, the views, connectivity)."""

    def eigen_map_models(self, key: str = "maps") -> list[str]:
        """`geometry.maps` (or `geometry.hessian_planes`): null = every model, [] = none; models not in `models` are
        skipped."""
        maps = self.config["geometry"][key]
        return self.models if maps is None else [model for model in maps if model in self.models]

    def report_inputs(self) -> dict[str, list[str]]:
        """Every run's metrics, every trained run's history; the first run's surface of every model."""
        return {"metrics": [f"results/metrics/{m}.json" for m in self.all_runs()],
                "histories": [f"results/train/{m}/history.csv" for m in self.all_runs(trained_only=True)],
                "surfaces": [f"results/landscape/{runs[0]}/surface.npz" for runs in self.runs.values()]}

    def geometry_targets(self) -> list[str]:
        return ["results/geometry.csv", "results/geometry.md", "results/figures/geometry.png", "results/claims.csv",
                "results/claims.md", *[f"results/geometry/{self.runs[m][0]}_eigen.png" for m in self.eigen_map_models()],
                *(["results/figures/density.png"] if self.density_runs() else [])]

    def density_runs(self) -> list[str]:
        """The runs that get a Hessian eigenvalue density (geometry.density set): those of the geometry table."""
        return self.views_of("geometry") if self.config["geometry"]["density"] else []

    def paraview_targets(self) -> list[str]:
        return [f"results/landscape/{m}.vts" for m in self.views_of("landscape")]

    def view_targets(self, sweep: bool = True) -> list[str]:
        """loss-landscape's other views: 1-D curves (every run), interpolations, optimizer trajectories, ParaView."""
        pairs = [pair for pair in self.pairs if sweep or pair not in self.sweep_pairs]
        return [*[f"results/landscape/{m}_1d.png" for m in self.all_runs()],
                *[f"results/interpolation/{pair}.png" for pair in pairs],
                *[f"results/trajectory/{self.runs[m][0]}.png" for m in self.trajectory_models], *self.paraview_targets(),
                *[f"results/hessian/{self.runs[m][0]}.png" for m in self.eigen_map_models("hessian_planes")]]

    def connectivity_targets(self) -> list[str]:
        """Each seed pair's paths, and the table and figure across models (none without connectivity models)."""
        if not self.connectivity:
            return []
        return ["results/connectivity.csv", "results/connectivity.md", "results/figures/connectivity.png"]

    def connectivity_paths(self) -> list[str]:
        return [f"results/connectivity/{m}/{pair}.npz" for m, pairs in self.connectivity.items() for pair in pairs]

    def study_targets(self) -> list[str]:
        """Everything of the study's models (training, surfaces, views, geometry, connectivity, reports, the
        interactive page), without the Net sweep."""
        return [*[f"results/landscape/{m}.png" for m in self.views_of("landscape")], *self.report_inputs()["metrics"],
                "results/summary.csv", "results/summary.md", "results/figures/training_curves.png",
                "results/figures/landscapes.png", *self.view_targets(sweep=False), *self.geometry_targets(),
                *self.connectivity_targets(), "results/landscapes.html"]

    def sweep_targets(self) -> list[str]:
        return ["results/sweep/table.csv", *[f"results/sweep/table_lr{lr}.md" for lr in self.sweep_lrs],
                *[f"results/sweep/heatmap_lr{lr}.png" for lr in self.sweep_lrs], "results/ablation/augmentation.md"]

    def all_targets(self) -> list[str]:
        return [*self.study_targets(), *self.sweep_targets(),
                *[f"results/interpolation/{pair}.png" for pair in self.sweep_pairs]]
