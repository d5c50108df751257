"""FreePDK45 (the second technology) and the technology-portable cell generators (circuits.cellgen).

References: architecture.md's toolchain facts (FO4 14.4 ps for FreePDK45 VTG at Nangate45 INV_X1
sizes and 1.1 V; 83 ps for SKY130 sc_hd inv_1 at 1.8 V, both measured with bare devices), the
Nangate45 cell footprints (public: INV_X1 0.38 x 1.4 um, NAND2_X1 0.57, AND2_X1 0.76, XNOR2_X1 1.14,
MUX2_X1 1.33 um wide), and the foundry sky130_fd_sc_hd cells themselves.
"""
from __future__ import annotations

import itertools
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from circuits import cellgen
from circuits.cell_netlist import evaluate, read_cell
from circuits.netlist import NetlistValueError, fmt
from circuits.stdcells import stdcell_instance
from circuits.technology import CELL_RULES, freepdk45, get_technology, sky130, sky130_generated_cells

ROOT = Path(__file__).resolve().parents[1]
# every cell the BDPE instantiates (circuits.bdpe, circuits.popcount, the testbenches)
BDPE_CELLS = ("inv_1", "inv_4", "buf_1", "buf_8", "and2_4", "nand2_1", "mux2_1", "xnor2_1", "fa_1", "ha_1")

FUNCTIONS = {
    "inv": {"Y": lambda a: 1 - a},
    "buf": {"X": lambda a: a},
    "nand2": {"Y": lambda a, b: 1 - (a & b)},
    "nor2": {"Y": lambda a, b: 1 - (a | b)},
    "and2": {"X": lambda a, b: a & b},
    "or2": {"X": lambda a, b: a | b},
    "xnor2": {"Y": lambda a, b: 1 - (a ^ b)},
    "xor2": {"X": lambda a, b: a ^ b},
    "mux2": {"X": lambda a0, a1, s: a1 if s else a0},
    "fa": {"COUT": lambda a, b, c: (a + b + c) >> 1, "SUM": lambda a, b, c: (a + b + c) & 1},
    "ha": {"COUT": lambda a, b: a & b, "SUM": lambda a, b: a ^ b},
}


def _bdpe() -> list[str]:
    script = Path(sys.executable).with_name("bdpe")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "bdpe.cli"]


# ----------------------------------------------------------------------------------------------
# no simulator


def test_freepdk45_technology_reads_the_package_files_only():
    tech = freepdk45()
    assert tech.corners == ("tt", "ff", "ss") and tech.vdd_nominal_V == 1.1
    text = Path(tech.library).read_text()
    for corner, section in (("tt", "NOM"), ("ff", "FF"), ("ss", "SS")):
        assert f".lib {corner}\n" in text and f"section {section}\n" in text
        cards = Path(tech.library).with_name(f"freepdk45_{section.lower()}.spi").read_text()
        # the package's cards, gate tunnelling off (circuits.technology explains why)
        assert cards.count(".model") == 8 and not re.search(r"ig[cb]mod\s*=\s*1\b", cards)
        assert len(re.findall(r"^\+.*\bigcmod\s*=\s*0\b", cards, flags=re.M)) == 8
    for kind, card in (("nmos", "NMOS_VTG"), ("pmos", "PMOS_VTG"), ("nmos_lvt", "NMOS_VTL"), ("pmos_hvt", "PMOS_VTH")):
        assert f".subckt {tech.device(kind)} " in text and f" {card} " in text
    assert tech.min_length_um["nmos"] == 0.05 and tech.device_limits_V["nmos"] < 1.3
    assert tech.library_lines("ss") == [f'.lib "{tech.library}" ss']
    assert "c4m.pdk.freepdk45" not in sys.modules  # located with find_spec, never imported
    with pytest.raises(NetlistValueError, match="corner"):
        tech.check_corner("sf")
    with pytest.raises(NetlistValueError, match="vdd.*freepdk45"):
        tech.check_vdd(1.8)
    assert get_technology("freepdk45") is tech


@pytest.mark.parametrize("tech_name", ["freepdk45", "sky130"])
def test_generated_cells_compute_their_function_with_foundry_names_and_pins(tech_name):
    tech = freepdk45() if tech_name == "freepdk45" else sky130_generated_cells()
    foundry = sky130()
    for cell in cellgen.generated_cell_names():
        base = cell.rsplit("_", 1)[0]
        netlist = read_cell(tech.stdcell_netlist(cell))
        directions = tech.stdcell_pin_directions(cell)
        inputs = [p for p in netlist.pins if directions[p] == "input"]
        for bits in itertools.product((0, 1), repeat=len(inputs)):
            values = evaluate(netlist, dict(zip(inputs, bits)))
            for out, function in FUNCTIONS[base].items():
                assert values[out] == function(*bits), (cell, out, bits)
    for cell in BDPE_CELLS:  # the engine's cells: the foundry's names and port order
        assert tech.stdcell_pins(cell) == foundry.stdcell_pins(cell), cell


def test_generated_cell_area_follows_the_nangate45_footprints():
    rule = CELL_RULES["freepdk45"]
    nangate = {"inv_1": 0.38, "nand2_1": 0.57, "and2_1": 0.76, "xnor2_1": 1.14, "mux2_1": 1.33, "inv_4": 0.95}
    for cell, width in nangate.items():
        assert cellgen.cell_size_um(cell, rule) == pytest.approx((width, 1.4)), cell
    assert cellgen.cell_size_um("fa_1", rule)[0] == pytest.approx(3.04, rel=0.10)  # FA_X1: 3.04 um
    assert freepdk45().stdcell_size_um("fa_1") == cellgen.cell_size_um("fa_1", rule)


def test_generated_library_is_written_once_and_atomically(tmp_path):
    rule = CELL_RULES["freepdk45"]
    root = cellgen.generate_library(rule, "t__", tmp_path)
    files = sorted(p for p in root.rglob("*") if p.is_file())
    stamps = {p: p.stat().st_mtime_ns for p in files}
    assert cellgen.generate_library(rule, "t__", tmp_path) == root
    assert {p: p.stat().st_mtime_ns for p in files} == stamps
    assert not [p for p in root.rglob(".tmp-*")]
    with pytest.raises(NetlistValueError, match="cell"):
        cellgen.cell_netlist_text("dff_1", rule, "t__")


def test_bad_operating_points_are_refused_with_one_line():
    cases = [(["--set", "technology=freepdk45", "--set", "corner=sf"], "corner"),
             (["--set", "technology=freepdk45", "--set", "vdd=1.8"], "vdd"),
             (["--set", "technology=tsmc28"], "technology")]
    for extra, field in cases:
        r = subprocess.run(_bdpe() + ["simulate", "bdpe-op", *extra, "--dry-run"], capture_output=True, text=True,
                           cwd=ROOT, timeout=120)
        assert r.returncode == 2, (extra, r.stderr)
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and field in lines[0] and "Traceback" not in r.stderr, r.stderr


# ----------------------------------------------------------------------------------------------
# ngspice


@pytest.mark.ngspice
def test_fo4_both_technologies_match_the_references():
    from characterize.procedures import get_testbench
    from characterize.runtime import SimulationPool
    from characterize.testbench import parse_params

    tb = get_testbench("fo4")
    params = [parse_params(tb, {"technology": t}) for t in ("freepdk45", "sky130")]
    with SimulationPool(1) as pool:
        results = [tb.measure(p, pool.run(tb.spec(p)).raise_for_status()) for p in params]
    fp45, s130 = (r["fo4_delay_s"] for r in results)
    print(f"FO4: freepdk45 {fp45 * 1e12:.2f} ps, sky130 {s130 * 1e12:.2f} ps")
    # references measured with bare devices and another FO4 arrangement: within 15 %
    assert fp45 == pytest.approx(14.4e-12, rel=0.15)
    assert s130 == pytest.approx(83e-12, rel=0.15)
    assert 4.5 < s130 / fp45 < 7.0


# (cell, input pin, output pin, {side input: level}) - the arcs compared with the foundry cells
ARCS = (("inv_1", "A", "Y", {}), ("nand2_1", "A", "Y", {"B": 1}), ("xnor2_1", "A", "Y", {"B": 1}),
        ("xnor2_1", "B", "Y", {"A": 0}), ("fa_1", "A", "SUM", {"B": 0, "CIN": 0}),
        ("fa_1", "CIN", "COUT", {"A": 1, "B": 0}), ("fa_1", "B", "SUM", {"A": 1, "CIN": 1}))
LOAD_F, SLEW_S, VDD = 5e-15, 50e-12, 1.8  # same load and 20-80 % input slew for both cells


def _arc_deck(foundry, generated) -> tuple[str, list[str]]:
    ramp = SLEW_S / 0.6
    lines = [f'.include "{t.stdcell_netlist(c)}"' for t in (foundry, generated) for c in dict.fromkeys(a[0] for a in ARCS)]
    lines += [f"Vdd vdd 0 dc {fmt(VDD)}", "Vlo lo 0 dc 0", f"Vin in 0 pulse(0 {fmt(VDD)} 0.1n {fmt(ramp)} {fmt(ramp)} 1n 2.2n)"]
    outs = []
    for k, (cell, pin, out, side) in enumerate(ARCS):
        for tag, tech in (("f", foundry), ("g", generated)):
            inputs = [p for p in tech.stdcell_pins(cell) if tech.stdcell_pin_directions(cell)[p] == "input"]
            outputs = [p for p in tech.stdcell_pins(cell) if tech.stdcell_pin_directions(cell)[p] == "output"]
            pins = {p: ("vdd" if side.get(p) else "lo") for p in inputs}
            pins[pin] = "in"
            pins.update({o: (f"{tag}{k}" if o == out else f"{tag}{k}_{o}") for o in outputs})
            lines.append(stdcell_instance(tech, cell, f"{tag}{k}", pins, vss="0"))
            lines.append(f"C{tag}{k} {tag}{k} 0 {fmt(LOAD_F)}")
            outs.append(f"{tag}{k}")
    return "\n".join(lines), outs


@pytest.mark.ngspice
def test_generated_cells_match_the_foundry_cells_within_25_percent():
    from characterize import measure as m
    from characterize.runtime import Probe, SimSpec, Tran, run

    foundry, generated = sky130(), sky130_generated_cells()
    deck, outs = _arc_deck(foundry, generated)
    spec = SimSpec(deck=deck, analysis=Tran(step_s=2e-12, stop_s=2.3e-9, max_step_s=2e-12),
                   probes=(Probe("in", "v", "in"),) + tuple(Probe(o, "v", o) for o in outs),
                   technology=foundry, corner="tt", temperature_C=25.0, label="generated vs foundry cells")
    r = run(spec).raise_for_status()
    t = r["time"]
    for k, (cell, pin, out, side) in enumerate(ARCS):
        delays = {}
        for tag in ("f", "g"):
            y = r[f"{tag}{k}"]
            inverting = y[-1] > VDD / 2  # the input ends low: an inverting arc's output ends high
            d1 = m.delay(t, r["in"], y, VDD, "rise", "fall" if inverting else "rise")
            d2 = m.delay(t, r["in"], y, VDD, "fall", "rise" if inverting else "fall", after=1.0e-9)
            delays[tag] = (d1, d2)
        print(f"{cell} {pin}->{out}: foundry {delays['f'][0] * 1e12:.1f}/{delays['f'][1] * 1e12:.1f} ps, "
              f"generated {delays['g'][0] * 1e12:.1f}/{delays['g'][1] * 1e12:.1f} ps (input rise/fall)")
        for edge in range(2):
            ratio = delays["g"][edge] / delays["f"][edge]
            assert 0.75 <= ratio <= 1.25, (cell, pin, out, edge, delays)


def _synthetic_tables(path: Path, technology: str) -> Path:
    """A table file of the two BDPE operations (numbers made up, shapes real) of ``technology``."""
    from characterize.tables import OperationTable, write_tables

    axes = {"corner": np.array(["tt", "ss", "ff"], dtype=object), "vdd": np.array([1.0, 1.1]),
            "temperature": np.array([27.0])}
    shape = (3, 2, 1)
    tables = [OperationTable(name=op, axes=axes, axis_units={"corner": "-", "vdd": "V", "temperature": "degC"},
                             metrics={"latency_s": np.full(shape, lat), "energy_J": np.full(shape, e)},
                             metric_units={"latency_s": "s", "energy_J": "J"},
                             metric_descriptions={"latency_s": "latency", "energy_J": "energy"},
                             status=np.zeros(shape, dtype=np.int8), message=np.full(shape, "", dtype=object))
              for op, lat, e in (("bdpe_rram", 1.6e-9, 5e-12), ("bdpe_register", 0.33e-9, 1.2e-12))]
    write_tables(path, tables, {"technology": technology, "technology_source": "synthetic (tests)"})
    return path


def test_evaluate_refuses_an_operating_point_the_tables_technology_does_not_have(tmp_path):
    tables = str(_synthetic_tables(tmp_path / "t45.h5", "freepdk45"))
    base = _bdpe() + ["evaluate", "--network", "finn-tfc", "--platform", "paper-a53", "--tables", tables]
    for extra, words in ((["--corner", "sf"], ("--corner", "freepdk45")), (["--vdd", "1.8"], ("--vdd", "freepdk45"))):
        r = subprocess.run(base + extra, capture_output=True, text=True, cwd=ROOT, timeout=120)
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 2 and len(lines) == 1 and all(w in lines[0] for w in words), r.stderr
    # no --vdd: the technology's nominal 1.1 V (a SKY130 default of 1.8 V would be refused above)
    r = subprocess.run(base + ["--corner", "tt", "--temp", "27", "--json"], capture_output=True, text=True, cwd=ROOT,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert "gain" in r.stdout


def test_engine_design_resizes_45nm_and_leaves_sky130_alone():
    from circuits.bdpe import BDPEParams, area_estimate
    from circuits.engine_design import engine_area_um2, engine_design, engine_params

    assert engine_design(sky130()).cell == {} and engine_design(sky130()).sense == BDPEParams().sense
    d = engine_design(freepdk45())
    assert d.cell["access_l_um"] == freepdk45().min_length_um["nmos"]
    assert d.timing["t_sense"] < 1.2e-9 and d.timing["t_eval"] < 5e-9
    s130, fp45 = sky130(), freepdk45()
    assert engine_area_um2(engine_params(s130), s130) == area_estimate(engine_params(s130), s130)
    a45, a130 = engine_area_um2(engine_params(fp45), fp45), area_estimate(engine_params(s130), s130)
    # the array shrinks with the pitch squared (~(0.19/0.46)^2 x width ratio); the total less (the
    # replica capacitors do not scale)
    assert 0.1 < a45["array_um2"] / a130["array_um2"] < 0.25
    assert 0.15 < a45["total_um2"] / a130["total_um2"] < 0.4


@pytest.mark.ngspice
@pytest.mark.slow
def test_bdpe_op_at_45nm_returns_the_popcount_on_both_paths():
    from characterize.procedures import get_testbench
    from characterize.runtime import SimulationPool
    from characterize.testbench import parse_params

    tb = get_testbench("bdpe-op")
    stored, x = "0x0123456789abcdef", "0xffff0000ffff0000"
    params = [parse_params(tb, {"technology": "freepdk45", "stored": stored, "input": x, "path": path})
              for path in ("register", "rram")]
    with SimulationPool(1) as pool:
        results = [tb.measure(p, pool.run(tb.spec(p)).raise_for_status()) for p in params]
    expected = bin(~(int(stored, 16) ^ int(x, 16)) & (2**64 - 1)).count("1")
    for p, r in zip(params, results):
        assert p.vdd == 1.1 and r["result"] == r["expected"] == expected, (p.path, r)
    register, rram = results
    # 45 nm vs SKY130 (3.63 ns / 10.2 pJ RRAM path at tt, 1.8 V): faster and cheaper; the RRAM
    # path is bounded below by the bit-line sensing window (t_pre + t_sense = 1.15 ns)
    assert 1.15e-9 < rram["latency_s"] < 2.5e-9 and register["latency_s"] < 0.6e-9
    assert rram["energy_J"] < 8e-12 and register["energy_J"] < rram["energy_J"]


def test_device_testbench_access_options_are_validated_with_one_line():
    cases = [(["--set", "access_device=nmos_thick"], "access_device"),  # SKY130 has no nmos_thick
             (["--set", "access_technology=freepdk45", "--set", "wl_V=1.5"], "wl_V"),  # core limit 1.21 V
             (["--set", "access_technology=freepdk45", "--set", "amplitude_V=1.5"], "amplitude_V"),
             (["--set", "access_technology=freepdk45", "--set", "corner=sf"], "corner"),
             (["--set", "access_technology=freepdk45", "--set", "nmos_w_um=0.05"], "nmos_w_um"),
             (["--set", "access_technology=freepdk45", "--set", "access_device=nmos_5v"], "access_device")]
    for extra, field in cases:
        r = subprocess.run(_bdpe() + ["simulate", "rram-reset", "--set", "access=nmos", "--set", "wl_V=1.1", *extra,
                                      "--dry-run"], capture_output=True, text=True, cwd=ROOT, timeout=120)
        assert r.returncode == 2, (extra, r.stderr)
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and field in lines[0] and "Traceback" not in r.stderr, r.stderr


@pytest.mark.ngspice
def test_45nm_write_path_programs_a_word_with_the_core_access_device():
    """The 45 nm write path (generated 1.1 V drivers, the engine's 0.415/0.05 um core access
    device) programs every bit of a word; its slowest cell (a RESET: source-follower case) takes at
    least as long as one cell RESET through the same device with ideal 1.1 V sources (the drivers
    and the array wiring only add to it), and finishes inside the technology's 100 ns pulse."""
    import json

    def simulate(*sets):
        r = subprocess.run(_bdpe() + ["simulate", *sets, "--json"], capture_output=True, text=True, cwd=ROOT,
                           timeout=600)
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)

    cell = simulate("rram-reset", "--set", "access=nmos", "--set", "access_technology=freepdk45",
                    "--set", "parameter_set=sky130-1t1r", "--set", "nmos_w_um=0.415", "--set", "wl_V=1.1",
                    "--set", "amplitude_V=1.1", "--set", "width_s=1e-7")
    assert cell["switched"] == 1.0 and 10e-9 < cell["switching_time_s"] < 80e-9, cell
    row = simulate("program-word", "--set", "technology=freepdk45", "--set", "cols=8", "--set", "word=0xa5")
    assert row["params"]["t_write"] == 100e-9 and row["params"]["vdd"] == 1.1
    assert row["programmed"] == "0xa5" and row["correct"] is True, row
    assert cell["switching_time_s"] <= row["latency_s"] < 100e-9, (cell["switching_time_s"], row["latency_s"])
