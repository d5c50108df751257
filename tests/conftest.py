"""Shared fixtures.  Simulator tests are marked ``ngspice``; in CI (CI=true) a missing ngspice is a
failure, never a skip."""
from __future__ import annotations

import os
import shutil

import pytest


def _ngspice_available() -> bool:
    return shutil.which("ngspice") is not None and any(
        os.path.exists(os.path.join(d, "libngspice.so"))
        for d in ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib", "/usr/local/lib"))


def pytest_collection_modifyitems(config, items):
    if _ngspice_available():
        return
    needs_ngspice = [item for item in items if "ngspice" in item.keywords]
    if needs_ngspice and os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        raise pytest.UsageError("ngspice/libngspice0-dev missing in CI: simulator tests may not skip")
    for item in needs_ngspice:
        item.add_marker(pytest.mark.skip(reason="ngspice not installed (run make setup)"))


@pytest.fixture(scope="session")
def report_tables(tmp_path_factory):
    """Tables of tests/data/report.toml (every operation the report reads, both BDPE operations at
    tt/1.8 V/27 C), simulated once per session: two whole-engine points, ~3-7 min cold on 2 busy
    cores. The report, its check in Chromium and the exports read it. Only for ``ngspice`` tests."""
    import subprocess
    import sys
    from pathlib import Path

    from campaign_texts import report_cache_dir

    root = Path(__file__).resolve().parents[1]
    d = tmp_path_factory.mktemp("report_tables")
    out = d / "tables.h5"
    r = subprocess.run([sys.executable, "-m", "bdpe.cli", "characterize", str(root / "tests" / "data" / "report.toml"),
                        "-o", str(out), "--cache", str(report_cache_dir()), "--jobs", "2", "--no-progress"],
                       capture_output=True, text=True, cwd=root, timeout=3600)
    assert r.returncode == 0, r.stderr
    return out


@pytest.fixture(scope="session")
def sky130_tech():
    from circuits.technology import sky130
    return sky130()
