"""The BDPE decks with and without parasitics (issue 18): the ``parasitics`` testbench parameter,
the wire-load model of the engine's interconnect (circuits.wireload), the wider windows of the
parasitic decks, and a table that records which deck each point is (real ngspice)."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from circuits import wireload
from circuits.netlist import NetlistValueError
from circuits.popcount import PopcountParams, plan_popcount, popcount


def _bdpe_command() -> list[str]:
    script = Path(sys.executable).with_name("bdpe")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "bdpe.cli"]


def test_wire_cap_per_um_from_the_tech_lef(sky130_tech):
    # nominal tech LEF: met1 CPERSQDIST 25.7784e-6 pF/um^2 x WIDTH 0.14 + 2 x EDGECAPACITANCE 40.567e-6 pF/um
    assert wireload.lef_wire_cap_per_um(sky130_tech, "met1") == pytest.approx((25.7784e-6 * 0.14 + 2 * 40.567e-6) * 1e-12)
    assert wireload.lef_wire_cap_per_um(sky130_tech, "met2") == pytest.approx((16.9423e-6 * 0.14 + 2 * 37.759e-6) * 1e-12)


def test_route_length_and_floorplan(sky130_tech):
    stub = wireload.SKY130_WIRES.pin_stub_um
    assert wireload.route_length([(0, 0), (10, 3)]) == (10, 3 + 2 * stub)
    assert wireload.route_length([(5, 0), (0, 1), (9, 2)]) == (9, 2 + 3 * stub)
    from circuits.bdpe import engine_floorplan

    fp = engine_floorplan(tech=sky130_tech)
    assert fp.width_um == pytest.approx(64 * 1.5)
    assert fp.array_h_um == pytest.approx(128 * 0.92)  # the array's area over its own width: 128 rows x 0.92 um


def test_popcount_wires_only_with_estimated_parasitics(sky130_tech):
    from circuits.bdpe import engine_floorplan, popcount_wire_caps

    assert popcount_wire_caps(64, sky130_tech) is None
    plain = popcount(PopcountParams(), sky130_tech, popcount_wire_caps(64, sky130_tech))
    est_tech = sky130_tech.with_stdcell_parasitics("estimated")
    est = popcount(PopcountParams(), est_tech, popcount_wire_caps(64, est_tech))
    assert "Cwire" not in plain.text and plain.name == est.name
    plan = plan_popcount(64)
    fed = {net for a in plan.adders for net in a.inputs} - set(plan.inputs)
    fp = engine_floorplan(tech=est_tech)
    caps = wireload.popcount_wire_caps(plan, est_tech, fp)
    assert caps == popcount_wire_caps(64, est_tech)
    assert set(caps) == fed  # every adder-to-adder net, and no other
    assert est.text.count("Cwire_") == len(fed)
    # lengths differ with distance in the tree, and none exceeds the popcount block's bounding box
    c_max = wireload.lef_wire_cap_per_um(est_tech, "met1")
    bound = c_max * (fp.width_um + fp.popcount_h_um + 2 * wireload.SKY130_WIRES.pin_stub_um)
    assert max(caps.values()) > 3 * min(caps.values()) > 0
    assert max(caps.values()) < bound
    assert all("parasitics" in inc for inc in est.includes)
    assert not any("parasitics" in inc for inc in plain.includes)


def test_engine_wires(sky130_tech):
    from circuits.bdpe import BDPEParams, bdpe

    est_tech = sky130_tech.with_stdcell_parasitics("estimated")
    plain, _ = bdpe(BDPEParams(), sky130_tech)
    est, _ = bdpe(BDPEParams(), est_tech)
    assert "Cwire" not in plain.text
    for net in ("y0", "y63", "x0", "q0", "sel", "sae", "pre", "blref", "m"):
        assert f"Cwire_{net} " in est.text, net
    reg, _ = bdpe(BDPEParams(read_path=False), est_tech)
    assert "Cwire_sel " in reg.text and "Cwire_q0 " not in reg.text and "Cwire_sae " not in reg.text
    from circuits.bdpe import engine_floorplan

    caps = wireload.engine_wire_caps(plan_popcount(64), est_tech, engine_floorplan(tech=est_tech))
    # a broadcast along the engine (~96 um + 65 stubs) is far heavier than a column's own route
    assert caps["sel"] > 5 * caps["y0"] > 0
    c_um = wireload.lef_wire_cap_per_um(est_tech, "met1")
    assert caps["sel"] == pytest.approx(95.25 * c_um + 65 * wireload.lef_wire_cap_per_um(est_tech, "met2"), rel=1e-6)


def test_layout_parasitics_in_the_engine(sky130_tech):
    """parasitics=layout: the same engine wires and windows as estimated, and cell netlists with the
    licon contact resistors read from the cells' layouts."""
    from circuits.bdpe import BDPEParams, bdpe

    est, _ = bdpe(BDPEParams(), sky130_tech.with_stdcell_parasitics("estimated"))
    lay, _ = bdpe(BDPEParams(), sky130_tech.with_stdcell_parasitics("layout"))
    wires = sorted(line.split()[0] for line in est.text.splitlines() if line.startswith("Cwire_"))
    assert wires and wires == sorted(line.split()[0] for line in lay.text.splitlines() if line.startswith("Cwire_"))
    cells = [Path(inc) for inc in lay.includes if "parasitics" in inc]
    assert cells and set(cells).isdisjoint(Path(inc) for inc in est.includes)
    assert all("Rlicon" in c.read_text() and "layout parasitics" in c.read_text() for c in cells)


def test_parasitics_parameter_is_validated():
    from characterize.procedures import get_testbench
    from characterize.testbench import parse_params

    for name in ("bdpe-op", "sense-xnor", "popcount", "cell-read", "program-word"):
        tb = get_testbench(name)
        assert parse_params(tb, {}).parasitics == "none"
        assert parse_params(tb, {"parasitics": "estimated"}).parasitics == "estimated"
        with pytest.raises(NetlistValueError) as info:
            parse_params(tb, {"parasitics": "extracted"})
        assert info.value.field == "parasitics"
    proc = subprocess.run(_bdpe_command() + ["simulate", "popcount", "--set", "parasitics=bogus"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stdout == ""
    assert len(proc.stderr.strip().splitlines()) == 1 and "parasitics" in proc.stderr


def test_parasitic_decks_have_wider_windows():
    from characterize.bdpe_testbenches import PARASITIC_WINDOWS, BDPETiming, deck_timing

    assert deck_timing("none") == BDPETiming()
    est = deck_timing("estimated", t_sense=1.0e-9)
    assert est.t_sense == 1.0e-9 and est.t_eval == PARASITIC_WINDOWS["t_eval"] > BDPETiming().t_eval
    assert est.t_register == PARASITIC_WINDOWS["t_register"] > BDPETiming().t_register


def test_default_decks_unchanged_by_the_parameter(sky130_tech):
    from characterize.procedures import get_testbench
    from characterize.testbench import parse_params

    tb = get_testbench("bdpe-op")
    plain = tb.spec(parse_params(tb, {"path": "register"})).netlist()
    est = tb.spec(parse_params(tb, {"path": "register", "parasitics": "estimated"})).netlist()
    assert "Cwire" not in plain and "-parasitics-" not in plain
    assert "Cwire_" in est and "-parasitics-" in est


@pytest.mark.ngspice
def test_table_records_parasitics_and_they_slow_the_popcount(tmp_path):
    """A 16-input popcount without / with parasitics, through a campaign: the table has a
    ``parasitics`` axis and a per-point text saying which deck it is; with parasitics the worst
    vector is slower and takes more energy, and every vector still gives the right count."""
    from characterize import load_campaign, open_tables, run_campaign

    toml = tmp_path / "c.toml"
    toml.write_text("""
[campaign]
name = "par"
technology = "sky130"
[axes]
corner = ["tt"]
vdd = [1.8]
temperature = [27.0]
[operations.popcount]
axes = { parasitics = ["none", "estimated"] }
params = { inputs = 16, vectors = 2, t_vector = 2e-9 }
""")
    out = tmp_path / "t.h5"
    run_campaign(load_campaign(toml), out, jobs=1, cache_dir=tmp_path / "cache", progress=False)
    t = open_tables(out)
    assert list(t.axes("popcount")["parasitics"]) == ["none", "estimated"]
    texts = t.texts("popcount")["parasitics_mode"]
    assert list(np.ravel(texts)) == ["none", "estimated"]
    lat = {m: t.lookup("popcount", "latency_max_s", parasitics=m) for m in ("none", "estimated")}
    energy = {m: t.lookup("popcount", "energy_per_vector_J", parasitics=m) for m in ("none", "estimated")}
    for m in lat:
        assert t.lookup("popcount", "correct", parasitics=m) == 3
    assert 1.15 < lat["estimated"] / lat["none"] < 2.5
    assert 1.15 < energy["estimated"] / energy["none"] < 2.5
