"""``inverter_leakage``: the operation added through one registry line (characterize/procedures.py)
plus its deck builder and measurement (characterize/logic_testbenches.py). Leakage from a DC
operating point, checked against the foundry's Liberty figure and for smoothness in temperature."""
from __future__ import annotations

import subprocess
import sys

import pytest

from characterize import open_tables

LIBERTY_INV_1_LEAKAGE_W = 0.00532668e-9  # sky130_fd_sc_hd__inv_1 cell_leakage_power, tt 25 C 1.8 V


@pytest.mark.ngspice
def test_inverter_leakage_campaign_against_liberty(tmp_path):
    toml = tmp_path / "c.toml"
    toml.write_text('[campaign]\nname = "leakage"\n[axes]\ntemperature = [25.0, 27.0, 30.0]\n'
                    "[operations.inverter_leakage]\n")
    out = tmp_path / "t.h5"
    proc = subprocess.run([sys.executable, "-m", "bdpe.cli", "characterize", str(toml), "-o", str(out),
                           "--cache", str(tmp_path / "cache"), "--no-progress"], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr
    t = open_tables(out)
    per_cell = [t.lookup("inverter_leakage", "leakage_per_cell_W", corner="tt", vdd=1.8, temperature=T)
                for T in (25.0, 27.0, 30.0)]
    # the open models are not the ones the library was characterised with: 20 % (measured -11.5 %)
    assert per_cell[0] == pytest.approx(LIBERTY_INV_1_LEAKAGE_W, rel=0.20)
    # smooth and rising in temperature (a ringing transient once gave +58 % for 2 degrees)
    assert per_cell[0] < per_cell[1] < per_cell[2]
    assert per_cell[1] / per_cell[0] < 1.05
    low = t.lookup("inverter_leakage", "leakage_input_low_W", corner="tt", vdd=1.8, temperature=25.0)
    high = t.lookup("inverter_leakage", "leakage_input_high_W", corner="tt", vdd=1.8, temperature=25.0)
    assert low > 0 and high > 0 and low != high  # two different stacks of off transistors
