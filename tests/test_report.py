"""The report: tables -> figures, report.md, a self-contained report.html; and evaluate --tables."""
from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BDPE = [sys.executable, "-m", "bdpe.cli"]


def bdpe(*args):
    return subprocess.run(BDPE + [str(a) for a in args], capture_output=True, text=True, cwd=ROOT, timeout=1800)


# report_tables: tests/conftest.py (one simulation per session, shared with the exports and the
# report's check in Chromium)


@pytest.mark.ngspice
def test_report_is_complete_and_self_contained(report_tables, tmp_path):
    r = bdpe("report", "--tables", report_tables, "--out", tmp_path / "rep")
    assert r.returncode == 0, r.stderr
    rep = tmp_path / "rep"
    md, page = (rep / "report.md").read_text(), (rep / "report.html").read_text()
    pngs = sorted(p.name for p in rep.glob("fig_*.png"))
    assert {"fig_sky130_vs_paper.png", "fig_switching_time.png", "fig_rram_iv.png", "fig_sense_margin.png",
            "fig_bdpe_vdd.png", "fig_layers.png", "fig_capacity.png", "fig_latency_cycles.png"} <= set(pngs)
    for name in pngs:
        assert f"]({name})" in md
    # self-contained: no external references; every image is an embedded, decodable PNG
    assert not re.search(r"""(src|href)=['"](?!data:)""", page)
    images = re.findall(r"src='data:image/png;base64,([^']+)'", page)
    assert len(images) == len(pngs)
    for data in images:
        assert base64.b64decode(data)[:8] == b"\x89PNG\r\n\x1a\n"
    # the reproduction table and its provenance
    assert "+11.30 %" in md and "Why they differ" in md
    summary = json.loads((rep / "summary.json").read_text())
    assert summary["campaign_sha256"][:12] in md
    assert summary["bdpe_rram"]["latency_s"] > 0 and summary["bdpe_register"]["energy_J"] > 0


@pytest.mark.ngspice
def test_evaluate_with_tables(report_tables):
    r = bdpe("evaluate", "--network", "yolov3-tiny", "--tables", report_tables, "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert "report.toml" not in data["bdpe_config"]["source"] and "tables.h5" in data["bdpe_config"]["source"]
    assert data["bdpe_config"]["rram_latency_s"] > 1e-10
    point = {k: data["bdpe_config"][k] for k in ("technology", "corner", "vdd", "temperature")}
    assert point == {"technology": "sky130", "corner": "tt", "vdd": 1.8, "temperature": 27.0}  # which point it is
    bad = bdpe("evaluate", "--network", "yolov3-tiny", "--tables", report_tables, "--corner", "ss")
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "corner" in bad.stderr
    missing = bdpe("evaluate", "--network", "yolov3-tiny", "--tables", ROOT / "nope.h5")
    assert missing.returncode == 2


def test_robust_window_ignores_a_window_that_works_below_a_failing_one():
    from bdpe.report import _robust_from

    windows = [3.0, 5.0, 10.0, 20.0, 50.0, 100.0, 270.0]
    assert _robust_from(windows, [False] * 4 + [True] * 3) == 50.0       # SKY130 at tt, HRS background
    assert _robust_from(windows, [True] * 4 + [False] * 3) is None       # works only below a failing window
    assert _robust_from(windows, [True, False] + [True] * 5) == 10.0
    assert _robust_from(list(reversed(windows)), [True] * 7) == 3.0      # order of the axis does not matter
