"""The report in a real headless Chromium (scripts/check_report_html.py): every figure loads
(naturalWidth > 0), the console shows no error, and a screenshot is written beside the report
whose pixels are not all one colour. The check itself is shown to fail on a page with a console
error and a broken image, and on a blank page."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from external_tools import require

ROOT = Path(__file__).resolve().parents[1]
CHECK = ROOT / "scripts" / "check_report_html.py"


def check(page: Path, *extra) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(CHECK), str(page), "--require-browser", *extra], capture_output=True,
                          text=True, cwd=ROOT, timeout=300)


def variance(png: Path) -> float:
    import numpy as np
    from PIL import Image

    return float(np.asarray(Image.open(png).convert("RGB"), dtype=np.float64).var())


@pytest.mark.ngspice
def test_report_renders_in_chromium_with_a_screenshot(report_tables, tmp_path):
    require("chromium", "apt-get install chromium")
    rep = tmp_path / "report"
    r = subprocess.run([sys.executable, "-m", "bdpe.cli", "report", "--tables", str(report_tables), "--out", str(rep)],
                       capture_output=True, text=True, cwd=ROOT, timeout=900)
    assert r.returncode == 0, r.stderr
    t0 = time.perf_counter()
    r = check(rep / "report.html")
    seconds = time.perf_counter() - t0
    assert r.returncode == 0, r.stdout + r.stderr
    figures = len(list(rep.glob("fig_*.png")))
    assert figures >= 4 and f"{figures}/{figures} images loaded, 0 console errors" in r.stdout, r.stdout
    assert r.stdout.strip().splitlines()[-1] == "OK"
    shot = rep / "screenshot.png"
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and variance(shot) > 0
    print(f"headless Chromium check: {seconds:.1f} s ({r.stdout.splitlines()[0]})")


def test_the_check_fails_on_console_errors_broken_images_and_blank_pages(tmp_path):
    require("chromium", "apt-get install chromium")
    from PIL import Image

    png = tmp_path / "dot.png"
    Image.new("RGB", (40, 30), (200, 30, 30)).save(png)
    import base64

    good = f"<img src='data:image/png;base64,{base64.b64encode(png.read_bytes()).decode()}'>"
    bad = tmp_path / "bad.html"
    bad.write_text(f"<!DOCTYPE html><html><body>{good}<img src='data:image/png;base64,iVBORw0KGgo='>"
                   "<script>console.error('boom'); undefined_function();</script></body></html>")
    r = check(bad, "--screenshot", tmp_path / "bad.png")
    assert r.returncode == 1
    assert "FAIL: image 1 did not load" in r.stdout and "FAIL: console: console.error: boom" in r.stdout
    assert "FAIL: console: uncaught exception: ReferenceError: undefined_function is not defined" in r.stdout
    blank = tmp_path / "blank.html"
    blank.write_text("<!DOCTYPE html><html><body style='margin:0;background:#fff'></body></html>")
    r = check(blank)
    assert r.returncode == 1 and "is blank (one colour)" in r.stdout and variance(tmp_path / "screenshot.png") == 0
