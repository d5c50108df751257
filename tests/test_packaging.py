"""A non-editable install works: the built-in campaigns ship as package data (``bdpe run`` used to
find them through the source tree), so do the trained weights of digits-bnn, and the console
script's entry point imports."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_install_carries_the_campaigns(tmp_path):
    target, src = tmp_path / "site", tmp_path / "src"  # built from a copy: no build/ in the checkout
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".venv", ".git", "out", ".bdpe-cache", "__pycache__",
                                                             ".hypothesis", "*.h5", "build", "*.egg-info"))
    build = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                            "--target", str(target), str(src)], capture_output=True, text=True, timeout=600,
                           cwd=tmp_path)
    assert build.returncode == 0, build.stderr
    code = ("import campaigns, bdpe, characterize; "
            "from characterize.campaign import parse_campaign, plan; "
            "assert campaigns.__file__.startswith(%r), campaigns.__file__; "
            "print(len(plan(parse_campaign(campaigns.builtin('default')))), campaigns.available()); "
            "import system_model.trained as t; assert t.__file__.startswith(%r), t.__file__; "
            "print(len(t.load_trained('digits-bnn').test_y))") % (str(target), str(target))
    env = {**os.environ, "PYTHONPATH": str(target)}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split()[0] == "80" and "'smoke'" in proc.stdout
    assert proc.stdout.split()[-1] == "359"  # digits-bnn's weights ship as package data
