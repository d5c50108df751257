"""The model-library subset (circuits.model_library): what it keeps, and that ngspice gives the
same vectors, bit for bit, with the subset as with the whole SKY130 library."""
from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest

from characterize.procedures import get_testbench
from characterize.runtime import SimulationPool
from characterize.testbench import parse_params
from circuits import model_library as ml
from circuits.technology import sky130


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def tiny_library(tmp_path):
    """A library shaped like SKY130's: a corner section including files, a nested .lib call,
    multi-name .param statements with continuations, binned models inside and outside subckts."""
    _write(tmp_path / "lib" / "params_tt.spice", "* corner parameters\n.param\n+ dvth_n = 0.01 dvth_p = -0.02\n"
           ".param unused_p = 5\n.param chain_a = 'chain_b * 2'\n.param chain_b = 3\n")
    _write(tmp_path / "lib" / "models" / "fets.spice",
           ".subckt nfet d g s b mult=1\n.param vth_local = 'dvth_n + 0.4'\nm0 d g s b nfet__model l=1 w=1\n"
           ".model nfet__model.0 nmos vth0 = vth_local\n.model nfet__model.1 nmos vth0 = {chain_a}\n.ends nfet\n"
           ".subckt pfet d g s b\nm0 d g s b pfet__model\n.ends\n"
           ".model pfet__model.0 pmos vth0 = dvth_p\n"
           ".subckt bigdiode a c\nd0 a c dmod\n.ends\n.model dmod d is = unused_p\n")
    _write(tmp_path / "lib" / "extra.lib", ".lib sect\n.param from_section = 7\n.endl sect\n.lib other\n.param nope = 1\n.endl\n")
    lib = _write(tmp_path / "lib" / "main.lib.spice",
                 "* top\n.lib tt\n.option scale=1.0u\n.include params_tt.spice\n.include \"models/fets.spice\"\n"
                 ".lib extra.lib sect\n.endl tt\n.lib ff\n.param dvth_n = -1\n.endl ff\n")
    return lib


def test_subset_keeps_what_the_roots_reach_and_nothing_else(tiny_library):
    statements = ml.flatten_section(tiny_library, "tt")
    text = ml.library_subset(statements, frozenset({"nfet"})).lower()
    assert ".option scale=1.0u" in text                      # non-definitions always stay
    assert ".subckt nfet" in text and "nfet__model.1" in text
    assert "dvth_n = 0.01" in text                            # a multi-name .param kept whole ...
    assert "dvth_p" in text                                   # ... with its other names
    assert ".param chain_a" in text and ".param chain_b" in text   # a parameter chain, transitively
    for dropped in ("subckt pfet", "pfet__model.0 pmos", "bigdiode", "dmod", "unused_p", "from_section", "nope"):
        assert dropped not in text, dropped
    both = ml.library_subset(statements, frozenset({"pfet"})).lower()
    assert "pfet__model.0 pmos" in both and "subckt nfet" not in both
    assert "from_section" not in both and ".param nope" not in both
    # order is the library's: a later statement never moves before an earlier one
    assert text.index("dvth_n") < text.index("chain_b") < text.index(".subckt nfet")


def test_nested_lib_call_picks_only_its_section(tiny_library):
    names = set().union(*(st.defines for st in ml.flatten_section(tiny_library, "tt")))
    assert "from_section" in names and "nope" not in names
    assert {st.text.strip() for st in ml.flatten_section(tiny_library, "ff")} == {".param dvth_n = -1"}
    with pytest.raises(ValueError, match="no section 'zz'"):
        ml.flatten_section(tiny_library, "zz")


def test_subset_file_is_shared_by_decks_using_the_same_devices(tiny_library, tmp_path, monkeypatch):
    monkeypatch.setenv("BDPE_MODEL_CACHE", str(tmp_path / "cache"))
    a = ml.subset_file(tiny_library, "tt", "X1 a b c d nfet\nR1 a 0 1k\n")
    b = ml.subset_file(tiny_library, "tt", "X9 n1 n2 0 0 NFET\n* pfet in a comment is not a use\n")
    c = ml.subset_file(tiny_library, "tt", "X1 a b c d pfet\n")
    assert a == b != c and a.parent == tmp_path / "cache"
    assert ".subckt nfet" in a.read_text() and ".subckt nfet" not in c.read_text()
    a.unlink()  # a deleted cache file is written again
    assert ml.subset_file(tiny_library, "tt", "X1 a b c d nfet\n").is_file()


def test_cell_netlists_included_by_a_deck_are_roots():
    tech = sky130()
    deck = f'.include "{tech.stdcell_netlist("inv_1")}"\nX1 a y vss vss vdd vdd sky130_fd_sc_hd__inv_1\n'
    names = ml.deck_identifiers(deck)
    assert {"sky130_fd_pr__nfet_01v8", "sky130_fd_pr__pfet_01v8_hvt"} <= names


# Decks covering every golden circuit (inverter chain, array, sense amplifier, reference, bit slice,
# popcount, write row) and the 5 V-capable devices are not needed: these are the devices we use.
_IDENTITY_CASES = [
    ("inverter-chain", {"corner": "tt"}),
    ("cell-read", {"corner": "ss", "state": "lrs"}),
    ("sense-xnor", {"corner": "ff", "vdd": "1.6"}),
    ("popcount", {"inputs": "8", "vectors": "2"}),
    ("program-word", {"cols": "4", "rows": "4", "word": "0xa"}),
    ("rram-set", {"access": "nmos", "amplitude_V": "1.8", "width_s": "2e-9"}),
]


@pytest.mark.parametrize("operation,assignments", _IDENTITY_CASES, ids=[c[0] for c in _IDENTITY_CASES])
def test_subset_gives_the_same_vectors_as_the_whole_library(operation, assignments, monkeypatch, tmp_path):
    tb = get_testbench(operation)
    spec = tb.spec(parse_params(tb, assignments))
    assert spec.technology.model_subset and spec.technology.model_edits
    # the identity is of the subset as such: the cards unedited and in place (the edits and the
    # moved device models are checked below)
    spec = dataclasses.replace(spec, technology=dataclasses.replace(spec.technology.with_model_edits(()),
                                                                    hoist_models=False))
    monkeypatch.setenv("BDPE_MODEL_CACHE", str(tmp_path / "models"))
    results = {}
    for full in ("1", "0"):
        monkeypatch.setenv("BDPE_FULL_LIBRARY", full)
        with SimulationPool(1) as pool:
            results[full] = pool.run(spec).raise_for_status()
    whole, subset = results["1"], results["0"]
    assert set(whole.vectors) == set(subset.vectors)
    for name, vector in whole.vectors.items():
        assert np.array_equal(vector, subset.vectors[name]), name
    assert subset.load_time_s < whole.load_time_s
    subset_file, = (tmp_path / "models").iterdir()
    flat = sum(st.text.count("\n") + 1 for st in ml.flatten_section(spec.technology.library, spec.corner or "tt"))
    assert subset_file.read_text().count("\n") < flat / 2


# The SKY130 model edits (circuits.technology.SKY130_MODEL_EDITS: the 50-ohm body resistance network
# off) change numbers, not behaviour: edited vs shipped cards on decks whose results we report.
_EDIT_CASES = [
    ("inverter-chain", {"corner": "ss"}, ("delay_s", "energy_per_cycle_J")),
    ("popcount", {"inputs": "8", "vectors": "3", "corner": "ff"}, ("latency_max_s", "energy_per_vector_J")),
    ("sense-xnor", {"corner": "tt"}, ("sense_margin_V", "energy_per_bit_J")),
]


@pytest.mark.parametrize("operation,assignments,metrics", _EDIT_CASES, ids=[c[0] for c in _EDIT_CASES])
def test_model_edits_move_results_by_less_than_one_percent(operation, assignments, metrics, monkeypatch, tmp_path):
    tb = get_testbench(operation)
    params = parse_params(tb, assignments)
    edited = tb.spec(params)
    assert any("rbodymod" in pattern for pattern, _, _ in edited.technology.model_edits)
    shipped = dataclasses.replace(edited, technology=edited.technology.with_model_edits(()))
    monkeypatch.setenv("BDPE_MODEL_CACHE", str(tmp_path / "models"))
    with SimulationPool(1) as pool:
        a, b = (tb.measure(params, r.raise_for_status()) for r in pool.map([edited, shipped]))
    files = sorted((tmp_path / "models").iterdir())
    texts = [f.read_text() for f in files]
    assert len(files) == 2 and sum("rbodymod = 0" in t and "edited:" in t for t in texts) == 1  # one file of each
    assert a.get("correct", 1) == b.get("correct", 1)
    for name in metrics:
        assert a[name] == pytest.approx(b[name], rel=0.01), (name, a[name], b[name])


# Moving the FET wrappers' model cards out of their subcircuits (ml.hoist_device_models, SKY130's
# default) keeps every resistance (rsh x nrd = 1 x (nrd x rsh)); only where ngspice rounds the
# parameter values differs.  (program-word: both runs take the deck's fallback, trap, on this word.)
@pytest.mark.parametrize("operation,assignments", _IDENTITY_CASES, ids=[c[0] for c in _IDENTITY_CASES])
def test_hoisted_device_models_give_the_same_vectors_within_1e_6(operation, assignments, monkeypatch, tmp_path):
    tb = get_testbench(operation)
    params = parse_params(tb, assignments)
    hoisted = tb.spec(params)
    assert hoisted.technology.hoist_models
    plain = dataclasses.replace(hoisted, technology=dataclasses.replace(hoisted.technology, hoist_models=False))
    assert hoisted.deck_key() != plain.deck_key()
    monkeypatch.setenv("BDPE_MODEL_CACHE", str(tmp_path / "models"))
    with SimulationPool(1) as pool:
        a, b = (r.raise_for_status() for r in pool.map([hoisted, plain]))
    texts = {f.name: f.read_text() for f in (tmp_path / "models").iterdir()}
    moved = [t for t in texts.values() if "device models moved out of" in t]
    assert len(texts) == 2 and len(moved) == 1
    assert not re.search(r"^\.model", moved[0].split(".subckt", 1)[1].split(".ends", 1)[0], re.M | re.I)
    assert set(a.vectors) == set(b.vectors)
    ta, tb_ = a.vectors["time"], b.vectors["time"]
    if len(ta) == len(tb_) and np.allclose(ta, tb_, rtol=1e-9, atol=1e-18):  # the same time points: every vector
        for name, vector in a.vectors.items():
            scale = max(float(np.max(np.abs(b.vectors[name]))), 1e-12)
            assert float(np.max(np.abs(vector - b.vectors[name]))) <= 1e-6 * scale, name
    ma, mb = tb.measure(params, a), tb.measure(params, b)  # and what the testbench measures, always
    numbers = [k for k, v in mb.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
               and k not in ("analysis_time_s", "wall_time_s")]  # the simulator's own run time
    assert numbers and {k: ma[k] for k in numbers} == pytest.approx({k: mb[k] for k in numbers}, rel=1e-6, abs=1e-18)


def test_hoisting_refuses_a_card_that_uses_more_of_the_instance():
    text = "\n".join([
        ".subckt dev d g s b mult=1",
        ".param l = 1 w = 1 nf = 1 nrd = {0.14/w} nrs = {0.14/w}",
        "+ x = {89.1*nf/w+443.5}",
        "Mdev d g s b devm l = {l} w = {w} nrd = {nrd} nrs = {nrs}",
        ".model devm.1 nmos level = 54 rsh = {x} lmin = 0.1",
        ".ends dev",
        ".subckt dev2 d g s b",
        ".param l = 1 w = 1",
        "Mdev2 d g s b m2 l = {l} w = {w} nrd = 1 nrs = 1",
        ".model m2.1 nmos level = 54 toxe = {4e-9*w}",
        ".ends dev2",
        ".subckt dev3 d g s b",  # rsh from a global parameter: moved, rsh kept, nrd/nrs untouched
        ".param l = 1 w = 1 nrd = {0.14/w} nrs = {0.14/w}",
        "Mdev3 d g s b m3 l = {l} w = {w} nrd = {nrd} nrs = {nrs}",
        ".model m3.1 nmos level = 54 rsh = {sw_rs}",
        ".ends dev3",
        ".subckt dev4 d g s b",  # bins disagree on rsh: stays
        ".param l = 1 w = 1 y = {2/w} nrd = {0.14/w} nrs = {0.14/w}",
        "Mdev4 d g s b m4 l = {l} w = {w} nrd = {nrd} nrs = {nrs}",
        ".model m4.1 nmos level = 54 rsh = {y}",
        ".model m4.2 nmos level = 54 rsh = 10",
        ".ends dev4"])
    out, n = ml.hoist_device_models(text)
    assert n == 2
    lines = out.splitlines()
    assert lines[0] == ".model dev__devm.1 nmos level = 54 rsh = 1 lmin = 0.1"
    assert "Mdev d g s b dev__devm l = {l} w = {w} nrd = {nrd*x} nrs = {nrs*x}" in lines
    assert ".model m2.1 nmos level = 54 toxe = {4e-9*w}" in lines  # uses w: stays inside dev2
    assert ".model dev3__m3.1 nmos level = 54 rsh = {sw_rs}" in lines
    assert "Mdev3 d g s b dev3__m3 l = {l} w = {w} nrd = {nrd} nrs = {nrs}" in lines
    assert ".model m4.2 nmos level = 54 rsh = 10" in lines and "Mdev4 d g s b m4 l = {l} w = {w} nrd = {nrd} nrs = {nrs}" in lines


def test_every_way_the_cards_reach_ngspice_is_in_the_deck_and_cache_keys():
    """Edited vs foundry cards, hoisted vs in place: four different circuits and four cache entries
    for the same deck text; the ideal technology (no model library) adds nothing to either key."""
    from characterize.cache import point_key
    from characterize.campaign import Point
    from circuits.technology import ideal

    tb = get_testbench("inverter-chain")
    params = parse_params(tb, {})
    spec = tb.spec(params)
    variants = [dataclasses.replace(spec.technology, model_edits=edits, hoist_models=hoist)
                for edits in (spec.technology.model_edits, ()) for hoist in (True, False)]
    assert spec.technology.model_edits and variants[-1].model_load_identity() == ""
    specs = [dataclasses.replace(spec, technology=t) for t in variants]
    assert len({s.netlist() for s in specs}) == 1  # the deck's text does not show the difference
    assert len({s.deck_key() for s in specs}) == 4
    assert len({point_key(Point("op", tb.name, (0,), (), params, s), "39") for s in specs}) == 4
    assert ideal().model_load_identity() == ""
