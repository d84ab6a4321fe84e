"""ParaView export of a surface (loss-landscape's h52vtp.py): a VTK structured grid with the loss as height."""

import os
import tempfile
from pathlib import Path

import numpy as np


def write_vts(surface: dict, dest: str, log_height: bool = False) -> None:
    """`dest` (.vts): points (x, y, loss), point data loss and accuracy; written beside `dest`, then renamed."""
    from pyevtk.hl import gridToVTK

    xx, yy = np.meshgrid(surface["x"], surface["y"], indexing="xy")
    loss = surface["loss"]
    height = np.log(loss) if log_height else loss
    shape = (loss.shape[1], loss.shape[0], 1)  # VTK wants [x, y, z] index order

    def grid(values: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(values.T.reshape(shape), dtype=np.float64)

    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=f".{dest.name}.") as folder:
        written = gridToVTK(os.path.join(folder, "surface"), grid(xx), grid(yy), grid(height),
                            pointData={"loss": grid(loss), "accuracy": grid(surface["acc"]),
                                       "capped": grid(surface.get("capped", np.zeros_like(loss)).astype(float))})
        os.replace(written, dest)
