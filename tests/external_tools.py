"""External programs some tests drive (Yosys, Chromium, the Dask command line): a missing one skips
the test on a developer's machine and fails it in CI (CI=true), where scripts/setup.sh installs it."""
from __future__ import annotations

import os
import shutil

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require(program: str, install: str) -> str:
    """The path of ``program``; skip (or, in CI, fail) when it is not installed."""
    path = shutil.which(program)
    if path is None:
        message = f"{program} is not installed ({install}; make setup installs it)"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    return path
