"""A training run's name: the model's own for seed offset 0 (the paths of a single-seed config), model/seed<s> for
the others. Every per-run file is named by it (paths' {model} wildcard)."""


def run_name(model: str, seed: int) -> str:
    """The run of `model` trained with seed offset `seed`."""
    return model if seed == 0 else f"{model}/seed{seed}"


def model_and_seed(run: str) -> tuple[str, int]:
    """(model, seed offset) of a run name made by `run_name`."""
    model, _, seed = run.partition("/seed")
    return model, int(seed or 0)
