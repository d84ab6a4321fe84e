"""What a job asks a machine or scheduler for: runtime, memory, GPUs and cluster batching, from the cost model of
its kind (`kinds.Kind.cost`; a mixin of `plan.Plan`)."""

import math

from .kinds import KINDS


class Resources:
    """Runtime, memory, GPUs and batching of each job of a `Plan`."""

    def point_seconds(self, model: str, samples: int) -> float:
        """Seconds one grid point of `model` takes on `samples` images by the cost model (resources.chunk), scaled by
        its width squared (k× the channels: ~k² the work)."""
        from .config import train_settings

        width = train_settings(self.config, model).get("width", 1)
        return self.config["resources"]["chunk"]["seconds_per_point"].get(model, 50) * samples / 10_000 * width**2

    def runtime(self, kind: str, wildcards: dict, attempt: int = 1) -> int:
        """Minutes a job may run (twice the cost model plus 10), growing with each retry."""
        return math.ceil(10 + 2 * KINDS[kind].cost(self, wildcards)) * attempt

    def gpu(self, section: str | None = None) -> dict:
        """On a machine with GPUs: one per computing job. On a cluster: `resources.<section>`'s `gpu` (and
        `gpu_model`), which the SLURM plugin turns into --gpus=[model:]N; none for a job without a section."""
        if self.local_gpus:
            return {"gpu": 1}
        if section is None:
            return {}
        res = self.config["resources"][section]
        return {"gpu": res["gpu"], **({"gpu_model": res["gpu_model"]} if res["gpu_model"] else {})}

    def mem_mb(self, kind: str, attempt: int = 1) -> int:
        return self.config["resources"][KINDS[kind].section]["mem_mb"] * attempt

    @staticmethod
    def section(kind: str) -> str:
        """The `resources` section of a kind: train, or chunk for every other computing job."""
        return KINDS[kind].section

    def group(self, plane: str, model: str) -> str | None:
        """Cluster batching (ignored locally): chunks expected to take under `chunk_batch_minutes` go into one
        submission per model and plane, with its directions job; longer ones are each their own job."""
        minutes = KINDS["landscape_chunk"].cost(self, {"plane": plane, "model": model})
        return "landscape" if minutes < self.config["chunk_batch_minutes"] else None
