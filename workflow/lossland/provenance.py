"""What a result was computed from: the canonical job settings and the sha256 of every input file.

Every job writes `record(settings, inputs)` next to (or into) what it produces, and a job that combines earlier
results (a merge of chunks) accepts one only if `check` finds its record equal to the one it would write itself.
"""

from pathlib import Path

from .errors import UserError
from .io import sha256

PER_JOB = ("chunk",)  # settings that differ between the chunks of one grid and are left out of their records


def record(settings: dict, inputs: dict[str, str | list[str]]) -> dict:
    """{"spec": settings (less PER_JOB keys), "inputs": {name: sha256 of the file, or a list for a list}}."""
    hashes = {name: [sha256(p) for p in path] if isinstance(path, list) else sha256(path)
              for name, path in sorted(inputs.items())}
    return {"spec": {k: v for k, v in settings.items() if k not in PER_JOB}, "inputs": hashes}


def check(path: str | Path, written: dict, expected: dict) -> None:
    """Refuse `path` unless its record `written` has `expected`'s settings and input hashes (inputs the checking job
    does not read itself, e.g. a chunk's data split when the merge has it not, are not compared)."""
    settings, spec = written.get("spec", {}), expected["spec"]
    stale = sorted(key for key in {*settings, *spec} if settings.get(key) != spec.get(key))
    stale += sorted(name for name, digest in expected["inputs"].items()
                    if written.get("inputs", {}).get(name) != digest)
    if stale:
        raise UserError(f"{path} is stale (its {', '.join(stale)} differ from the current ones): delete it and rerun")
