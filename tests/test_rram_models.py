"""RRAM compact models: registry, netlist safety, and ngspice against an independent ODE solution."""
from __future__ import annotations

import numpy as np
import pytest

import rram_models
from characterize.runtime import SimulationPool
from characterize.testbenches import get_testbench, parse_params
from rram_models import ModelParameterError, Variability, get_model

from rram_reference import integrate, pulse, spku_current, vteam_current

PUBLISHED_SPKU = {"g0": 0.25e-9, "V0": 0.25, "I0": 1e-3, "Vel0": 10.0, "Ea": 0.6, "a0": 0.25e-9, "tox": 12e-9,
                  "gamma0": 16.0, "beta": 0.8, "F_min": 1.4e9, "Rth": 2.1e3, "T0": 298.0, "gap_min": 0.2e-9,
                  "gap_max": 1.7e-9}


def test_registry_and_published_defaults():
    assert rram_models.available() == ["stanford-pku", "vteam"]
    spku = get_model("stanford-pku")
    for name, value in PUBLISHED_SPKU.items():
        assert spku.params[name] == pytest.approx(value, rel=1e-12), name
    assert set(spku.params) == set(PUBLISHED_SPKU) | {"gap_ini"}
    vteam = get_model("vteam")
    assert {"k_on", "k_off", "alpha_on", "alpha_off", "v_on", "v_off", "R_on", "R_off"} <= set(vteam.params)
    for model in (spku, vteam):
        assert "default" in model.parameter_sets and "sky130-1t1r" in model.parameter_sets
        for pset in model.parameter_sets.values():
            assert len(pset.source) > 20, f"{model.name}/{pset.name} must say where its numbers come from"
        # the 1T1R set reads at 0.2 V with a window >= 100
        r_on, r_off = model.r_on_off(0.2, model.resolve("sky130-1t1r"))
        assert r_off / r_on >= 100
    with pytest.raises(ModelParameterError, match="model"):
        get_model("nope")


def test_subckt_is_deterministic_and_validated():
    spku = get_model("stanford-pku")
    text = spku.subckt("rr", parameter_set="sky130-1t1r")
    assert text == spku.subckt("rr", parameter_set="sky130-1t1r")
    assert text.splitlines()[0] == ".subckt rr te be state" and text.splitlines()[-1] == ".ends rr"
    assert "{" not in text and "limit(" not in text  # literals only (ngspice 39 B-source pitfalls)
    for bad in ("rr\n.control", "1abc", "a b"):
        with pytest.raises(ModelParameterError, match="name"):
            spku.subckt(bad)
    with pytest.raises(ModelParameterError, match="I0"):
        spku.subckt(I0=float("nan"))
    with pytest.raises(ModelParameterError, match="I0"):
        spku.subckt(I0="1e-3\n.control")
    with pytest.raises(ModelParameterError, match="gap_ini"):
        spku.subckt(gap_ini=5e-9)
    with pytest.raises(ModelParameterError, match="parameter_set"):
        spku.subckt(parameter_set="nope")


def test_variability_draws_are_reproducible():
    spku = get_model("stanford-pku")
    var = Variability(d2d=(("I0", "lognormal", 0.1), ("Vel0", "normal", 0.05)), seed=7)
    a, b = var.device_params(spku.params, 3), var.device_params(spku.params, 3)
    assert a == b and a != var.device_params(spku.params, 4)
    assert a != Variability(d2d=var.d2d, seed=8).device_params(spku.params, 3)
    draws = np.array([Variability(d2d=(("I0", "lognormal", 0.1),), seed=1).device_params(spku.params, i)["I0"]
                      for i in range(400)])
    assert np.std(np.log(draws / spku.params["I0"])) == pytest.approx(0.1, rel=0.15)
    with pytest.raises(ModelParameterError):
        Variability(d2d=(("I0", "uniform", 0.1),))


# ----------------------------------------------------------------------------------------------
# ngspice vs scipy


def _run(pool, items):
    specs = [tb.spec(p) for tb, p in items]
    results = pool.map(specs)
    for r in results:
        r.raise_for_status()
    return results


def _reference(model_name, p, op, device_params):
    model = get_model(model_name)
    sign = model.set_polarity if op == "rram-set" else -model.set_polarity
    lo, hi = model.bounds(device_params)
    r_lo, r_hi = (float(model.read_resistance(s, p.v_read, device_params)) for s in (lo, hi))
    high, low = (hi, lo) if r_hi > r_lo else (lo, hi)
    start = high if op == "rram-set" else low
    stop = 1e-9 + 2 * p.rise_s + p.width_s + 2e-9
    return integrate(model_name, device_params, pulse(sign * p.amplitude_V, 1e-9, p.rise_s, p.width_s), stop,
                     p.r_series_ohm, start, max_step=p.width_s / 2000)


def _switch_time(model_name, p, dev, t, state, op):
    model = get_model(model_name)
    r = model.read_resistance(state, p.v_read, dev)
    r_on, r_off = model.r_on_off(p.v_read, dev)
    target = np.log(np.sqrt(r_on * r_off))
    logr = np.log(r)
    idx = np.nonzero(logr < target)[0] if op == "rram-set" else np.nonzero(logr > target)[0]
    k = idx[0]
    return float(t[k - 1] + (target - logr[k - 1]) * (t[k] - t[k - 1]) / (logr[k] - logr[k - 1])) - 1e-9


CASES = {
    "stanford-pku": [("rram-set", 0.8), ("rram-set", 0.9), ("rram-set", 1.0),
                     ("rram-reset", 0.7), ("rram-reset", 0.8), ("rram-reset", 0.9)],
    "vteam": [("rram-set", 1.2), ("rram-set", 1.4), ("rram-set", 1.6),
              ("rram-reset", 1.2), ("rram-reset", 1.4), ("rram-reset", 1.6)],
}


@pytest.mark.ngspice
@pytest.mark.parametrize("model_name", ["stanford-pku", "vteam"])
def test_ngspice_matches_independent_ode(model_name):
    """Gap/x trajectory within 2 % RMS of the state range and switching time within 2 %, for 3 SET and
    3 RESET amplitudes through a 1 kOhm series resistor, each of which switches the device."""
    items = []
    for op, amp in CASES[model_name]:
        tb = get_testbench(op)
        items.append((tb, parse_params(tb, {"model": model_name, "amplitude_V": amp, "width_s": 60e-9,
                                            "r_series_ohm": 1e3})))
    with SimulationPool(2) as pool:
        results = _run(pool, items)
    model = get_model(model_name)
    for (tb, p), r in zip(items, results):
        dev = model.resolve("sky130-1t1r")
        t_ref, s_ref, _ = _reference(model_name, p, tb.name, dev)
        lo, hi = model.bounds(dev)
        t, s = r["time"], r["state"]
        rms = np.sqrt(np.mean((np.interp(t, t_ref, s_ref) - s) ** 2)) / (hi - lo)
        assert abs(s[-1] - s[0]) > 0.9 * (hi - lo), f"{tb.name} {p.amplitude_V} V did not switch"
        ts_ref = _switch_time(model_name, p, dev, t_ref, s_ref, tb.name)
        ts = tb.measure(p, r)["switching_time_s"]
        assert rms < 0.02, (tb.name, p.amplitude_V, rms)
        assert ts == pytest.approx(ts_ref, rel=0.02), (tb.name, p.amplitude_V, ts, ts_ref)


@pytest.mark.ngspice
def test_iv_sweep_pinched_hysteresis_and_switching_time_trend():
    tb = get_testbench("rram-iv")
    p = parse_params(tb, {})
    set_tb = get_testbench("rram-set")
    amps = [0.8, 0.85, 0.9, 0.95, 1.0]
    pulses = [(set_tb, parse_params(set_tb, {"amplitude_V": a, "width_s": 1e-7})) for a in amps]
    with SimulationPool(2) as pool:
        iv, *sets = _run(pool, [(tb, p)] + pulses)
    m = tb.measure(p, iv)
    # pinched: the current vanishes with the voltage; hysteresis: the loop encloses area
    assert m["pinch_ratio"] < 1e-3
    assert abs(m["loop_area_W"]) > 0
    assert 0.5 < m["set_threshold_V"] < 1.2 and 0.3 < m["reset_threshold_V"] * -1 < 1.2
    assert m["on_off_ratio"] >= 100
    assert m["r_after_set_ohm"] == pytest.approx(m["r_on_ohm"], rel=0.05)
    assert m["r_after_reset_ohm"] == pytest.approx(m["r_off_ohm"], rel=0.05)
    times = np.array([set_tb.measure(pp, r)["switching_time_s"] for (_, pp), r in zip(pulses, sets)])
    assert np.all(np.diff(times) < 0)
    slope, intercept = np.polyfit(amps, np.log(times), 1)
    fit = np.polyval([slope, intercept], amps)
    r2 = 1 - np.sum((np.log(times) - fit) ** 2) / np.sum((np.log(times) - np.log(times).mean()) ** 2)
    assert slope < -5 and r2 > 0.95, (slope, r2)  # exponential: log(t) linear in V, falling


@pytest.mark.ngspice
def test_read_disturb_below_one_percent_and_detectable():
    tb = get_testbench("rram-read")
    items = [(tb, parse_params(tb, {"state": s, "n_pulses": 1000})) for s in ("lrs", "hrs")]
    # control: the same measurement at a read voltage above the switching threshold must see a change
    items.append((tb, parse_params(tb, {"state": "hrs", "n_pulses": 20, "pulse_V": 0.8})))
    with SimulationPool(2) as pool:
        results = _run(pool, items)
    for (_, p), r in zip(items[:2], results[:2]):
        m = tb.measure(p, r)
        assert m["state_change_rel"] < 0.01 and m["read_change_rel"] < 0.01, (p.state, m)
        # the measured read resistance agrees with the model's I-V at the read voltage
        assert m["r_read_first_ohm"] == pytest.approx(m["r_start_ohm"], rel=0.02)
    control = tb.measure(items[2][1], results[2])
    assert control["state_change_rel"] > 0.5


@pytest.mark.ngspice
def test_cycle_to_cycle_seed_reproducible():
    tb = get_testbench("rram-set")
    base = {"amplitude_V": 0.85, "width_s": 1e-7, "c2c_sigma": 0.3}
    items = [(tb, parse_params(tb, {**base, "seed": s})) for s in (1, 1, 2)]
    items.append((tb, parse_params(tb, {**base, "seed": 1, "d2d_sigma": 0.2})))
    with SimulationPool(1) as pool:
        a, b, c, d = _run(pool, items)
    assert np.array_equal(a["state"], b["state"])
    assert not np.array_equal(a["time"], c["time"]) or not np.array_equal(a["state"], c["state"])
    ta, tc, td = (tb.measure(p, r)["switching_time_s"] for (_, p), r in zip([items[0], items[2], items[3]], [a, c, d]))
    assert ta != tc and ta != td
    assert tb.measure(items[0][1], a)["seed"] == 1


@pytest.mark.ngspice
def test_pulses_converge_over_the_required_range():
    """0.8-2.5 V, 1 ns-1 us, direct and through a SKY130 NMOS (1.95 V max there): no failed run."""
    items = []
    for op in ("rram-set", "rram-reset"):
        tb = get_testbench(op)
        for amp in (0.8, 1.6, 2.5):
            for width in (1e-9, 1e-6):
                items.append((tb, parse_params(tb, {"amplitude_V": amp, "width_s": width, "r_series_ohm": 0.0})))
        for amp, width in ((0.8, 1e-9), (1.95, 1e-6)):
            items.append((tb, parse_params(tb, {"amplitude_V": amp, "width_s": width, "access": "nmos"})))
    with SimulationPool(2) as pool:
        results = pool.map([tb.spec(p) for tb, p in items])
    failed = [(tb.name, p.amplitude_V, p.width_s, p.access, r.error) for (tb, p), r in zip(items, results) if not r.ok]
    assert not failed
