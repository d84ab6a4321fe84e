"""`results/landscapes.html`: every model's surface rotatable in a browser, from disk, with no server and no network.

One self-contained file: plotly's JavaScript, embedded from the pinned `plotly` package (never a CDN), the viewer
(`page.js`) and the run's numbers as compact float32 arrays (base64). Per model: the 3-D surface (log-z toggle, the
capped region drawn as a grey plateau at the cap), the contour view with the 1-D curve's direction marked, the 1-D
curves, the geometry row and, for a model with training seeds compared (`connectivity`), the train loss and test
error between its seeds along each path; a model picker and a side-by-side mode for two models on one colour scale.
"""

import base64
import html
import json
import math
import re
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from .io import save_text
from .logs import log

GEOMETRY_ROW = [  # (column, heading, format) of the geometry row, each with its ± (report.spread) and n
    ("test_acc", "test acc", ".4f"), ("lambda_max", "λmax", ".4g"), ("lambda_min", "λmin", ".4g"),
    ("ratio", "|λmin/λmax|", ".4f"), ("trace", "trace", ".4g"), ("rise@0.5", "rise@0.5", ".4g"),
    ("half_width", "half-width", ".3f"), ("adaptive_average", "adaptive avg", ".3g"),
    ("adaptive_worst", "adaptive worst", ".3g"),
]


def packed(values: np.ndarray) -> str:
    """float32, little-endian, base64: ~5.3 characters per number instead of ~20 in JSON."""
    return base64.b64encode(np.ascontiguousarray(values, dtype="<f4").tobytes()).decode("ascii")


def geometry_cells(row: dict | None) -> list[dict]:
    """The geometry row of one model: each number with its ± (sd across seeds, else within-seed) and n."""
    from .report import spread

    if row is None:
        return []
    row, cells = {"seeds": 1, **row}, []
    for column, heading, digits in GEOMETRY_ROW:
        if column not in row or pd.isna(row[column]):
            continue
        needed = f"{column}_seed_sd" if row["seeds"] > 1 else f"{column}_sd"  # what report.spread reads
        sd = spread(row, column) if needed in row else float("nan")
        text = format(row[column], digits) + ("" if math.isnan(sd) else f" ± {sd:.0f}" if sd >= 100 else f" ± {sd:.2g}")
        cells.append({"name": heading, "value": text})
    if cells:
        cells.append({"name": "n (seeds)", "value": str(int(row.get("seeds", 1)))})
    return cells


def between_seeds(curve: dict) -> dict:
    """One seed pair's connectivity curves (`results/connectivity/<model>/<pair>.npz`): α and, per path there
    (straight, aligned, trained curve), the train loss and the test error."""
    found = {path: {"train_loss": packed(curve[f"{path}_train_loss"]), "test_error": packed(1 - curve[f"{path}_test_acc"])}
             for path in ("linear", "aligned", "curve") if f"{path}_train_loss" in curve}
    return {"alpha": packed(curve["alpha"]), "paths": found}


def model_data(label: str, surface: dict, curve: dict, test_acc: float, geometry: dict | None,
               between: dict | None = None) -> dict:
    capped = surface.get("capped", np.zeros_like(surface["loss"], dtype=bool)).astype(bool)
    return {"label": label, "test_acc": float(test_acc),
            "x": packed(surface["x"]), "y": packed(surface["y"]),
            "loss": packed(surface["loss"]), "acc": packed(np.nan_to_num(surface["acc"], nan=-1.0)),
            "capped": packed(capped.astype(np.float32)), "n_capped": int(capped.sum()),
            "line": {key: packed(curve[key]) for key in ("alpha", "train_loss", "test_loss", "train_acc", "test_acc")
                     if key in curve},
            "geometry": geometry_cells(geometry), "between": between or {}}


def plotly_js() -> tuple[str, str]:
    """plotly.min.js as the pinned `plotly` package ships it, and where it comes from (both versions)."""
    import plotly

    script = (resources.files("plotly") / "package_data" / "plotly.min.js").read_text(encoding="utf-8")
    found = re.search(r"plotly\.js v([\w.-]+)", script[:500])
    return script, f"plotly.js {found.group(1) if found else '?'} from the plotly {plotly.__version__} package"


def render(models: dict[str, dict], cap: float | None, title: str) -> str:
    """The page: models = {name: model_data(...)}, in the order of the picker."""
    script, version = plotly_js()
    viewer = (resources.files("lossland") / "page.js").read_text(encoding="utf-8")
    payload = json.dumps({"models": models, "cap": cap, "plotly": version}, separators=(",", ":"), allow_nan=False)
    return TEMPLATE.format(title=html.escape(title), plotly=script, data=payload.replace("</", "<\\/"), viewer=viewer,
                           version=html.escape(version))


def write_page(settings: dict, inputs: dict, dest: str) -> None:
    """The page job: the first run of every model (its surface, 1-D curve, metrics), the geometry table's rows and
    the connectivity curves of each seed pair."""
    from .io import read_arrays

    labels, between = settings.get("labels", {}), {}
    for (model, pair), path in zip(settings.get("connectivity_pairs", []), inputs.get("connectivity", []), strict=True):
        between.setdefault(model, {})[pair] = between_seeds(read_arrays(path))
    geometry = {}
    if inputs.get("geometry"):
        frame = pd.read_csv(inputs["geometry"])
        geometry = {row["model"]: row for row in frame.to_dict("records")}
    models = {}
    for model, surface, curve, metrics in zip(settings["models"], inputs["surfaces"], inputs["lines"],
                                              inputs["metrics"], strict=True):
        test_acc = json.loads(Path(metrics).read_text())["test_acc"]
        models[model] = model_data(labels.get(model, model), read_arrays(surface), read_arrays(curve), test_acc,
                                   geometry.get(model), between.get(model))
    save_text(render(models, settings.get("cap"), "Loss landscapes: " + ", ".join(m["label"] for m in models.values())),
              dest)
    log(f"wrote {dest}: {len(models)} models, {Path(dest).stat().st_size / 1e6:.2f} MB")


TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 0 1.2em; color: #222; }}
header {{ display: flex; flex-wrap: wrap; gap: 1.2em; align-items: center; padding: 0.6em 0;
          border-bottom: 1px solid #ddd; }}
h1 {{ font-size: 1.25em; margin: 0; }}
label {{ font-size: 0.95em; }}
#panels {{ display: flex; gap: 1.2em; }}
.panel {{ flex: 1; min-width: 0; }}
.panel h2 {{ font-size: 1.1em; margin: 0.6em 0 0.2em; }}
.plot3d {{ height: 520px; }}
.plot2d {{ height: 380px; }}
.row {{ display: flex; gap: 0.6em; }}
.row > div {{ flex: 1; min-width: 0; }}
table.geometry {{ border-collapse: collapse; font-size: 0.9em; margin: 0.4em 0 1em; }}
table.geometry td, table.geometry th {{ border: 1px solid #ddd; padding: 2px 6px; text-align: right; }}
.note {{ color: #555; font-size: 0.85em; }}
#selfcheck {{ display: none; }}
</style>
<script>{plotly}</script>
</head>
<body>
<header>
<h1>{title}</h1>
<label>model <select id="model"></select></label>
<label>side by side with <select id="other"><option value="">(none)</option></select></label>
<label><input type="checkbox" id="logz"> log₁₀ loss</label>
<span class="note">drag to rotate, scroll to zoom; {version}, embedded: this page needs no network</span>
</header>
<div id="panels"></div>
<pre id="selfcheck"></pre>
<script id="data" type="application/json">{data}</script>
<script>{viewer}</script>
</body>
</html>
"""
