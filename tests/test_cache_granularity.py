"""Cache keys cover the source a procedure uses, derived from its imports (characterize.procedures):
editing one testbench module re-simulates its operations and only those.

The edits are made to a copy of the packages in a scratch directory, never to this checkout."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from campaign_texts import TINY

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("bdpe", "circuits", "rram_models", "characterize", "system_model")

HASHES = """
import json
from characterize.procedures import available, get_testbench, procedure_sha256
print(json.dumps({n: procedure_sha256(get_testbench(n)) for n in available()}))
"""


@pytest.fixture
def copy(tmp_path):
    for pkg in PACKAGES:
        shutil.copytree(ROOT / pkg, tmp_path / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def _run(args, cwd, **kw):
    env = {**os.environ, "PYTHONPATH": str(cwd), "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600, **kw)


def _hashes(cwd) -> dict:
    proc = _run(["-c", HASHES], cwd)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _touch(path: Path) -> None:
    path.write_text(path.read_text() + "\n# an edit\n")


def _changed(before: dict, after: dict) -> set:
    return {k for k in before if before[k] != after[k]}


def _in_module(module: str) -> set:
    """Testbenches whose deck builder lives in ``characterize.<module>`` (derived, not listed)."""
    from characterize.procedures import TESTBENCHES

    return {name for name, tb in TESTBENCHES.items() if tb.build.__module__ == f"characterize.{module}"}


def test_procedure_hashes_follow_the_imports(copy):
    rram, bdpe = _in_module("rram_testbenches"), _in_module("bdpe_testbenches")
    # the read-path Monte Carlo builds on circuits.bdpe (and so on the module that holds the popcount)
    read_mc = _in_module("ber_testbenches") | _in_module("offset_testbenches")
    assert rram and bdpe and read_mc
    base = _hashes(copy)
    assert base == _hashes(copy)  # deterministic
    _touch(copy / "characterize" / "rram_testbenches.py")
    after = _hashes(copy)
    assert _changed(base, after) == rram
    _touch(copy / "circuits" / "popcount.py")  # the popcount is part of the BDPE decks only
    again = _hashes(copy)
    assert _changed(after, again) == bdpe | read_mc
    _touch(copy / "characterize" / "offset_testbenches.py")  # its own operation only
    offset = _hashes(copy)
    assert _changed(again, offset) == _in_module("offset_testbenches")
    _touch(copy / "rram_models" / "vteam.py")  # every procedure with an RRAM device
    last = _hashes(copy)
    assert _changed(offset, last) == rram | bdpe | read_mc
    _touch(copy / "characterize" / "runtime.py")  # the simulator runtime: everything
    assert _changed(last, _hashes(copy)) == set(base)
    _touch(copy / "system_model" / "engine.py")  # not a procedure's source at all
    assert _hashes(copy) == _hashes(copy)


@pytest.mark.ngspice
def test_edit_resimulates_only_its_operations(copy):
    (copy / "c.toml").write_text(TINY)
    args = ["-m", "bdpe.cli", "characterize", "c.toml", "-o", "t.h5", "--cache", "cache", "--no-progress"]
    first = _run(args, copy)
    assert first.returncode == 0 and "2 simulated, 0 cached" in first.stderr, first.stderr
    _touch(copy / "characterize" / "rram_testbenches.py")  # unrelated to rc-step: stays cached
    unrelated = _run(args, copy)
    assert unrelated.returncode == 0 and "0 simulated, 2 cached" in unrelated.stderr, unrelated.stderr
    _touch(copy / "characterize" / "logic_testbenches.py")  # rc-step's own module: re-simulated
    related = _run(args, copy)
    assert related.returncode == 0 and "2 simulated, 0 cached" in related.stderr, related.stderr
