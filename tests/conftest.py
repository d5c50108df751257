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
def sky130_tech():
    from circuits.technology import sky130
    return sky130()
