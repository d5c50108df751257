"""The transistor-level BDPE: builders (pure, deterministic), the popcount plan against Python, and
SPICE checks of every block against the arithmetic it must compute."""
from __future__ import annotations

import random

import numpy as np
import pytest

from characterize.bdpe_testbenches import MASK64
from characterize.runtime import SimulationPool
from characterize.testbenches import get_testbench, parse_params
from circuits.bdpe import (ArrayParams, BDPEParams, CellParams, SenseParams, WriteRowParams, area_estimate, bdpe,
                           bit_slice, cell_states, rram_array, sense_amp, sense_reference, write_row)
from circuits.netlist import NetlistValueError
from circuits.popcount import PopcountParams, plan_popcount, popcount

from test_golden_netlists import _portable, check_golden


@pytest.mark.parametrize("n", [2, 3, 7, 16, 64])
def test_popcount_plan_counts(n):
    plan = plan_popcount(n)
    assert len(plan.outputs) == n.bit_length()
    rng = random.Random(n)
    vectors = [[rng.getrandbits(1) for _ in range(n)] for _ in range(2000)] + [[1] * n, [0] * n]
    for bits in vectors:
        assert plan.evaluate(bits) == sum(bits)

    fa = sum(a.kind == "fa" for a in plan.adders)
    if n == 64:
        assert fa == 57 and plan.depth <= 12


def test_builders_are_deterministic_and_golden(sky130_tech):
    t = sky130_tech
    small = ArrayParams(rows=4, cols=2, words=(0b01, 0b10))
    cases = {
        "array_4x2": lambda: rram_array(small, t)[0].text,
        "array_4x2_full": lambda: rram_array(ArrayParams(rows=4, cols=2, words=(0b01,), full=True), t)[0].text,
        "sense_amp": lambda: sense_amp(SenseParams(), t).text,
        "sense_reference": lambda: sense_reference(SenseParams(), CellParams(), 128, 0.18e-15, 64, t).text,
        "bit_slice": lambda: bit_slice(t).text,
        "popcount_8": lambda: popcount(PopcountParams(inputs=8), t).text,
        "bdpe_8col": lambda: bdpe(BDPEParams(array=ArrayParams(rows=8, cols=8, words=(0x5A,)),
                                             popcount=PopcountParams(inputs=8)), t)[0].text,
        "write_row_4col": lambda: write_row(WriteRowParams(array=ArrayParams(rows=4, cols=4, words=(0b0110,), dynamic=True)), t)[0].text,
    }
    for name, build in cases.items():
        text = build()
        assert text == build(), name
        check_golden(f"bdpe_{name}", _portable(text + "\n", t))


def test_builders_reject_bad_values(sky130_tech):
    with pytest.raises(NetlistValueError, match="words"):
        rram_array(ArrayParams(rows=2, cols=4, words=(1, 2, 3)), sky130_tech)
    with pytest.raises(NetlistValueError, match="words\\[0\\]"):
        rram_array(ArrayParams(cols=4, words=(16,)), sky130_tech)
    with pytest.raises(NetlistValueError, match="window"):
        cell_states(CellParams(window=1e6))
    with pytest.raises(NetlistValueError, match="popcount.inputs"):
        bdpe(BDPEParams(array=ArrayParams(cols=8)), sky130_tech)


def test_area_estimate(sky130_tech):
    a = area_estimate(BDPEParams(), sky130_tech)
    assert a["full_adders"] == 57
    assert a["array_um2"] == pytest.approx(128 * 64 * a["cell_um2"])
    parts = sum(v for k, v in a.items() if k.endswith("_um2") and k not in ("total_um2", "cell_um2"))
    assert a["total_um2"] == pytest.approx(parts)
    fa_w, fa_h = sky130_tech.stdcell_size_um("fa_1")
    assert a["popcount_um2"] > 57 * fa_w * fa_h  # at least the cells themselves


# ----------------------------------------------------------------------------------------------
# SPICE


def _run(items, workers=2):
    with SimulationPool(workers) as pool:
        results = pool.map([tb.spec(p) for tb, p in items])
    for r in results:
        r.raise_for_status()
    return [tb.measure(p, r) for (tb, p), r in zip(items, results)]


@pytest.mark.ngspice
def test_blocks_in_spice():
    """Array reduction vs full array, the sense amplifier at two corners and both backgrounds,
    the 64-input popcount and the write path, each against its expected values."""
    cr, sx, pc, pw = (get_testbench(n) for n in ("cell-read", "sense-xnor", "popcount", "program-word"))
    items = []
    for state in ("lrs", "hrs"):
        for full in (0, 1):
            items.append((cr, parse_params(cr, {"rows": 32, "full": full, "state": state, "background": "lrs"})))
    for corner in ("tt", "ss"):
        for bg in ("lrs", "hrs"):
            items.append((sx, parse_params(sx, {"corner": corner, "background": bg})))
    items.append((pc, parse_params(pc, {"vectors": 3})))
    items.append((pw, parse_params(pw, {"cols": 8, "rows": 16, "word": "0xef"})))  # 8 cells: an 8-bit word
    out = _run(items)
    lrs_red, lrs_full, hrs_red, hrs_full = out[:4]
    for red, full in ((lrs_red, lrs_full), (hrs_red, hrs_full)):
        assert red["read_current_A"] == pytest.approx(full["read_current_A"], rel=0.01)
        assert red["access_time_s"] == pytest.approx(full["access_time_s"], rel=0.05)
    _, _, r_on, r_off = cell_states(CellParams())
    # read resistance = RRAM + access transistor: a little above R_on / at R_off
    assert r_on < lrs_red["read_resistance_ohm"] < 1.1 * r_on
    assert hrs_red["read_resistance_ohm"] == pytest.approx(r_off, rel=0.05)
    for m in out[4:8]:
        assert m["correct"] == 1.0 and m["sense_margin_V"] > 0.005, m
    popc = out[8]
    assert popc["correct"] == popc["vectors"] == 4
    assert 0 < popc["latency_max_s"] < 3e-9
    prog = out[9]
    assert prog["correct"] and prog["cells_switched"] == 8 and prog["latency_s"] > 0


@pytest.mark.ngspice
def test_verify_script_at_tt_both_paths(tmp_path):
    """scripts/verify_bdpe.py exactly as a user runs it, at tt with a small set: one random
    (stored, input) pair plus all-equal, all-different and both alternating cases per path, through
    the whole engine (128 x 64 array, 64 sense amplifiers, datapath, popcount). The full 24-pair
    tt/ss/ff verification is the same script with its defaults."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    out = tmp_path / "verify.json"
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run([sys.executable, "scripts/verify_bdpe.py", "--corners", "tt", "--rows", "1",
                           "--inputs-per-row", "1", "--seed", "7", "--jobs", "2", "--out", str(out)],
                          cwd=root, capture_output=True, text=True, timeout=1500)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 failures" in proc.stdout
    report = json.loads(out.read_text())
    assert sorted(r["path"] for r in report) == ["register", "rram"]
    for run in report:
        assert len(run["operations"]) == 5
        for x in run["operations"]:
            stored, xin = int(x["stored"], 16), int(x["x"], 16)
            # the expected value is recomputed here, independently of the script
            assert x["result"] == bin(~(stored ^ xin) & MASK64).count("1"), x
            assert x["correct"] and x["energy_J"] > 0
        assert 1 < len({x["result"] for x in run["operations"]})  # not only 0 and 64
        assert any(np.isfinite(x["latency_s"]) for x in run["operations"])
