"""The interactive page (results/landscapes.html) and the Snakemake report, opened in a real headless Chromium.

Chromium comes from Debian's chromium-headless-shell, which tests/system/packages.sh installs (`.ci/run` calls it);
without it the browser tests skip with the reason. The page's own JavaScript checks what it drew (`#selfcheck` runs
its selfCheck(): every model's three plots, their traces and the share of drawn pixels, then two models side by
side); the test reads that report from the DOM Chromium dumps, and a screenshot must not be blank."""

import base64
import json
import re
import shutil
import subprocess

import numpy as np
import pytest
import yaml
from conftest import REPO, run_snakemake, system_missing
from PIL import Image

BROWSERS = ("chromium-headless-shell", "chromium", "google-chrome", "chrome")


@pytest.fixture(scope="module")
def browser() -> str:
    found = next((shutil.which(name) for name in BROWSERS if shutil.which(name)), None)
    if not found:
        system_missing("no headless Chromium on the PATH: run bash tests/system/packages.sh (as root) first")
    return found


def headless(browser: str, url: str, *args: str) -> subprocess.CompletedProcess:
    """One headless Chromium run: WebGL in software (SwiftShader), as on a machine without a GPU, and no network
    (every host name resolves to nothing)."""
    command = [browser, "--headless", "--no-sandbox", "--enable-unsafe-swiftshader", "--hide-scrollbars",
               "--host-resolver-rules=MAP * ~NOTFOUND", "--virtual-time-budget=60000", *args, url]
    return subprocess.run(command, capture_output=True, text=True, timeout=600)


def inked_share(png) -> float:
    """The share of a screenshot's pixels that are not near-white background."""
    with Image.open(png) as image:
        pixels = np.asarray(image.convert("RGB")).reshape(-1, 3)
    return float((pixels < 235).any(axis=1).mean())


def smoke_models() -> list[str]:
    """The smoke preset's models: its own list, else config.yaml's (all seven)."""
    for source in ("tests/smoke.yaml", "config.yaml"):
        models = yaml.safe_load((REPO / source).read_text()).get("models")
        if models:
            return models
    raise AssertionError("no models in tests/smoke.yaml or config.yaml")


def test_the_page_is_self_contained_and_holds_the_surfaces_as_float32(smoke_run):
    page = (smoke_run / "results/landscapes.html").read_text()
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=", page)  # nothing to fetch: all of it is inline
    assert "plotly.js v" in page  # the bundled library, embedded
    data = json.loads(re.search(r'<script id="data" type="application/json">(.*?)</script>', page, re.S).group(1))
    assert list(data["models"]) == smoke_models() and data["cap"] == 10.0
    with np.load(smoke_run / "results/landscape/resnet20/surface.npz") as surface:
        model = data["models"]["resnet20"]
        loss = np.frombuffer(base64.b64decode(model["loss"]), dtype="<f4").reshape(surface["loss"].shape)
        np.testing.assert_array_equal(loss, surface["loss"].astype(np.float32))
        assert model["n_capped"] == int(surface["capped"].sum())
    names = [cell["name"] for cell in model["geometry"]]
    assert names[:4] == ["test acc", "λmax", "λmin", "|λmin/λmax|"] and names[-1] == "n (seeds)"
    size = (smoke_run / "results/landscapes.html").stat().st_size
    assert size < 10e6, f"the smoke page is {size / 1e6:.1f} MB"


def test_every_model_renders_in_headless_chromium(smoke_run, browser, tmp_path):
    page = smoke_run / "results/landscapes.html"
    dumped = headless(browser, page.as_uri() + "#selfcheck", "--dump-dom")
    assert dumped.returncode == 0, dumped.stderr[-2000:]
    found = re.search(r'<pre id="selfcheck">(.*?)</pre>', dumped.stdout, re.S)
    assert found and found.group(1), "the page's self-check did not finish:\n" + dumped.stderr[-2000:]
    report = json.loads(found.group(1))
    assert report["errors"] == [] and report["fetched"] == []  # the page asked the network for nothing
    assert list(report["models"]) == smoke_models()
    for model, plots in report["models"].items():
        surface, contour, curve = plots
        assert surface["id"] == "surface-0" and surface["canvas"] and min(surface["canvas"]) > 100, (model, surface)
        assert surface["traces"] >= 1 and contour["traces"] >= 3 and curve["traces"] == 4, (model, plots)
        for plot in plots:
            assert plot["ink"] > 0.02, (model, plot)  # drawn, not an empty frame
    both = report["sideBySide"]
    assert [plot["id"] for plot in both] == ["surface-0", "contour-0", "curve-0", "surface-1", "contour-1", "curve-1"]
    assert both[0]["range"] == both[3]["range"]  # one colour scale for the two models
    assert all(plot["ink"] > 0.02 for plot in both)

    screenshot = tmp_path / "page.png"
    shot = headless(browser, page.as_uri(), f"--screenshot={screenshot}", "--window-size=1400,1100")
    assert shot.returncode == 0 and screenshot.is_file(), shot.stderr[-2000:]
    assert inked_share(screenshot) > 0.1


def test_the_curves_between_seeds_render_in_headless_chromium(seeds_run, browser):
    """A model whose seeds were compared gets two more plots, train loss and test error between its seeds: one line
    per path (straight, aligned, trained curve) of its one pair, drawn."""
    dumped = headless(browser, (seeds_run / "results/landscapes.html").as_uri() + "#selfcheck", "--dump-dom")
    assert dumped.returncode == 0, dumped.stderr[-2000:]
    found = re.search(r'<pre id="selfcheck">(.*?)</pre>', dumped.stdout, re.S)
    assert found and found.group(1), "the page's self-check did not finish:\n" + dumped.stderr[-2000:]
    report = json.loads(found.group(1))
    assert report["errors"] == [] and report["fetched"] == []
    for model in ("resnet20", "plainnet20"):
        plots = {plot["id"]: plot for plot in report["models"][model]}
        assert list(plots) == ["surface-0", "contour-0", "curve-0", "between-loss-0", "between-error-0"], model
        for plot in ("between-loss-0", "between-error-0"):
            assert plots[plot]["traces"] == 3 and plots[plot]["ink"] > 0.02, (model, plots[plot])


def test_the_report_builds_without_rst_errors_and_renders_in_headless_chromium(smoke_run, browser, tmp_path):
    report = tmp_path / "report.html"  # outside the smoke run, which CI's e2e tier reads and writes meanwhile
    built = run_snakemake(smoke_run, "--report", str(report), "--configfile", "smoke.yaml")
    assert "ERROR/" not in built.stdout + built.stderr and "System Message" not in built.stdout + built.stderr
    html = report.read_text()
    assert "landscapes.html" in html and "System Message" not in html
    dumped = headless(browser, report.as_uri(), "--dump-dom")
    assert dumped.returncode == 0, dumped.stderr[-2000:]
    for category in ("training", "landscapes", "geometry", "interpolation", "trajectories", "sweep"):
        assert category in dumped.stdout, category
    screenshot = tmp_path / "report.png"
    shot = headless(browser, report.as_uri(), f"--screenshot={screenshot}", "--window-size=1400,1000")
    assert shot.returncode == 0 and screenshot.is_file(), shot.stderr[-2000:]
    assert inked_share(screenshot) > 0.02
