"""Every file the workflow writes, named once. The rules use these templates as they are (the braces are Snakemake's
wildcards); the plan, the targets and the jobs fill them in with `.format(model=...)`. A job's log and benchmark
mirror one name: `log("train/{model}")` is results/logs/train/{model}.log, `benchmark` the same under benchmarks/.
docs/outputs.md describes each file."""

# data and training
DATA = "results/data/{split}.pt"
CHECKPOINT = "results/models/{model}.pt"
HISTORY = "results/train/{model}/history.csv"
SNAPSHOTS = "results/train/{model}/snapshots.pt"
RESUME = "results/train/{model}/resume.pt"
METRICS = "results/metrics/{model}.json"

# the Net sweep
SWEEP_CHECKPOINT = "results/sweep/runs/{run}/model.pt"
SWEEP_HISTORY = "results/sweep/runs/{run}/history.csv"
SWEEP_RESUME = "results/sweep/runs/{run}/resume.pt"
SWEEP_TABLE = "results/sweep/table.csv"
SWEEP_TABLE_MD = "results/sweep/table_lr{lr}.md"
SWEEP_HEATMAP = "results/sweep/heatmap_lr{lr}.png"
ABLATION = "results/ablation/augmentation.md"

# planes: `landscape` (random directions), `trajectory` (PCA of the snapshots), `hessian` (top eigenvectors)
DIRECTIONS = "results/{plane}/{model}/directions.pt"
CHUNK = "results/{plane}/{model}/chunks/{chunk}.csv"
SURFACE = "results/{plane}/{model}/surface.npz"
SURFACE_JSON = "results/{plane}/{model}/surface.json"
LANDSCAPE_FIGURE = "results/landscape/{model}.png"
PARAVIEW = "results/landscape/{model}.vts"
TRAJECTORY = "results/trajectory/{model}.npz"
TRAJECTORY_FIGURE = "results/trajectory/{model}.png"
HESSIAN_PLANE_FIGURE = "results/hessian/{model}.png"

# 1-D views
LINE = "results/landscape/{model}/line.npz"
LINE_JSON = "results/landscape/{model}/line.json"
LINE_FIGURE = "results/landscape/{model}_1d.png"
INTERPOLATION = "results/interpolation/{pair}.npz"
INTERPOLATION_JSON = "results/interpolation/{pair}.json"
INTERPOLATION_FIGURE = "results/interpolation/{pair}.png"

# geometry
HESSIAN = "results/geometry/{model}/hessian.json"
EIGEN_CHUNK = "results/geometry/{model}/chunks/{chunk}.csv"
EIGEN_MAP = "results/geometry/{model}/eigen.npz"
EIGEN_MAP_JSON = "results/geometry/{model}/eigen.json"
EIGEN_MAP_FIGURE = "results/geometry/{model}_eigen.png"
FLATNESS = "results/geometry/{model}/flatness.json"
FLATNESS_NPZ = "results/geometry/{model}/flatness.npz"
DENSITY = "results/geometry/{model}/density.npz"
DENSITY_JSON = "results/geometry/{model}/density.json"
DENSITY_FIGURE = "results/figures/density.png"
GEOMETRY_TABLE = "results/geometry.csv"
GEOMETRY_TABLE_MD = "results/geometry.md"
GEOMETRY_FIGURE = "results/figures/geometry.png"
CLAIMS = "results/claims.csv"
CLAIMS_MD = "results/claims.md"

# mode connectivity between seeds
CONNECTIVITY = "results/connectivity/{model}/{seeds}.npz"
CONNECTIVITY_JSON = "results/connectivity/{model}/{seeds}.json"
CURVE = "results/connectivity/{model}/{seeds}/curve.pt"
CURVE_HISTORY = "results/connectivity/{model}/{seeds}/curve.csv"
CURVE_RESUME = "results/connectivity/{model}/{seeds}/resume.pt"
CONNECTIVITY_TABLE = "results/connectivity.csv"
CONNECTIVITY_TABLE_MD = "results/connectivity.md"
CONNECTIVITY_FIGURE = "results/figures/connectivity.png"

# across models
SUMMARY = "results/summary.csv"
SUMMARY_MD = "results/summary.md"
TRAINING_CURVES = "results/figures/training_curves.png"
LANDSCAPES_FIGURE = "results/figures/landscapes.png"
PAGE = "results/landscapes.html"


def log(job: str) -> str:
    """A job's log: `job` is its name under results/logs/, wildcards included (e.g. "train/{model}")."""
    return f"results/logs/{job}.log"


def benchmark(job: str) -> str:
    """Snakemake's timing of a job, under the same name as its log."""
    return f"results/benchmarks/{job}.tsv"


class _Kept(dict):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def fill(template: str, **values) -> str:
    """`template` with the wildcards in `values` filled in and the others kept: fill(SURFACE, plane="hessian") is
    results/hessian/{model}/surface.npz."""
    return template.format_map(_Kept(values))
