"""The simulation runtime against independent references, and its isolation guarantees."""
import dataclasses
import os
import signal
import threading

import numpy as np
import pytest

from characterize import measure as m
from characterize.runtime import (Op, Probe, SimSpec, SimulationPool, Tran, classify_message, run)
from characterize.testbenches import InverterChainTB, RCStepTB, get_testbench
from circuits.netlist import NetlistValueError
from circuits.technology import ideal

pytestmark = pytest.mark.ngspice


def _rc_spec(r=2e3, c=0.5e-12, v=1.2, label="rc"):
    tau = r * c
    deck = f".param vstep={v}\nVs in 0 pwl(0 0 1e-13 {{vstep}})\nR1 in out {r}\nC1 out 0 {c}"
    return SimSpec(deck=deck, analysis=Tran(step_s=tau / 500, stop_s=10 * tau, max_step_s=tau / 500),
                   probes=(Probe("in", "v", "in"), Probe("out", "v", "out"), Probe("i_src", "i", "Vs")),
                   technology=ideal(), params={"vstep": v}, options={"reltol": 1e-5}, label=label)


def test_rc_step_matches_analytic_and_cv2():
    r, c, v = 2e3, 0.5e-12, 1.2
    tau = r * c
    res = run(_rc_spec(r, c, v)).raise_for_status()
    t, vout = res["time"], res["out"]
    # independent reference: 1 - exp(-t/RC) (the 0.1 ps ramp shifts it by 0.05 ps)
    ref = v * (1 - np.exp(-np.clip(t - 0.5e-13, 0, None) / tau))
    late = t > 1e-12
    assert np.max(np.abs(vout[late] - ref[late])) <= 0.005 * v
    # the sampled waveform really covers the response (not a trivially flat vector)
    assert vout[0] == pytest.approx(0.0, abs=1e-9) and vout[-1] == pytest.approx(v, rel=1e-3)
    assert m.crossing(t, vout, v * (1 - np.exp(-1)), "rise") == pytest.approx(tau, rel=0.005)
    # energy drawn from the source to charge C through R: C*V^2 (half stored, half burnt in R)
    energy = m.supply_energy(t, res["in"], res["i_src"], 0.0, t[-1])
    assert energy == pytest.approx(c * v ** 2, rel=0.01)


def test_rc_testbench_measurement():
    tb = get_testbench("rc-step")
    p = RCStepTB(r_ohm=10e3, c_F=2e-13)
    meas = tb.measure(p, run(tb.spec(p)).raise_for_status())
    assert meas["max_rel_error_vs_analytic"] < 0.005
    assert meas["supply_energy_J"] == pytest.approx(meas["cv2_J"], rel=0.01)
    assert meas["t63_s"] == pytest.approx(2e-9, rel=0.005)


def test_op_and_errors_are_reported_not_raised():
    ok = SimSpec(deck="Vs in 0 1\nR1 in 0 1k", analysis=Op(), probes=(Probe("i", "i", "Vs"),),
                 technology=ideal(), label="ok")
    broken = SimSpec(deck="Vs in 0 1\nX1 in 0 no_such_subckt", analysis=Op(), probes=(Probe("i", "i", "Vs"),),
                     technology=ideal(), label="broken")
    with SimulationPool(1) as pool:
        r_ok, r_bad, r_ok2 = pool.map([ok, broken, ok])
    assert r_ok.ok and r_ok["i"][0] == pytest.approx(-1e-3)
    assert not r_bad.ok and r_bad.error_kind == "error" and r_bad.error
    assert r_ok2.ok and r_ok2["i"][0] == pytest.approx(-1e-3)


def _slow_spec(label, timeout_s):
    """A transient with a femtosecond step over a microsecond: it runs for many minutes."""
    return SimSpec(deck="Vs in 0 sin(0 1 1e9)\nR1 in out 1k\nC1 out 0 1p",
                   analysis=Tran(step_s=1e-15, stop_s=1e-6, max_step_s=1e-15),
                   probes=(Probe("out", "v", "out"),), technology=ideal(), timeout_s=timeout_s, label=label)


def test_timeout_fails_only_that_run():
    slow = _slow_spec("slow", 3)
    with SimulationPool(1) as pool:
        first_pid = pool.worker_pids[0]
        r_slow, r_next = pool.map([slow, _rc_spec(label="after")])
        assert pool.worker_pids[0] != first_pid  # the hung worker was replaced
    assert not r_slow.ok and r_slow.error_kind == "timeout"
    assert r_next.ok and r_next.label == "after"


def test_crash_fails_only_that_run():
    slow = _slow_spec("victim", 60)
    with SimulationPool(1) as pool:
        pid = pool.worker_pids[0]
        timer = threading.Timer(1.5, os.kill, args=(pid, signal.SIGKILL))
        timer.start()
        r_victim, r_next = pool.map([slow, _rc_spec(label="survivor")])
        timer.join()
    assert not r_victim.ok and r_victim.error_kind == "crash"
    assert r_next.ok


def test_params_must_be_declared_and_valid():
    with pytest.raises(NetlistValueError):
        SimSpec(deck="R1 a 0 1", analysis=Op(), probes=(), technology=ideal(), params={"vdd": 1.0})
    with pytest.raises(NetlistValueError):
        SimSpec(deck=".param vdd=1\nR1 a 0 1", analysis=Op(), probes=(), technology=ideal(), params={"vdd": "1\n.control"})
    with pytest.raises(NetlistValueError):
        SimSpec(deck="R1 a 0 1\n.control\nshell ls\n.endc", analysis=Op(), probes=(), technology=ideal())
    with pytest.raises(NetlistValueError):
        SimSpec(deck="R1 a 0 1", analysis=Op(), probes=(), technology=ideal(), options={"shell": 1})


def test_classify_messages():
    assert classify_message("Note: Starting dynamic gmin stepping") == "note"
    assert classify_message("Warning: Dynamic gmin stepping failed") == "note"
    assert classify_message("Supplies reduced to   0.0000% Note: source stepping") == "note"
    assert classify_message("Unsupported Ngspice version 39") == "note"
    assert classify_message("doAnalyses: TRAN:  Timestep too small; time = 1e-9") == "error"
    assert classify_message("Error: unknown subckt: x1 in 0 foo") == "error"
    assert classify_message("run simulation(s) aborted") == "error"


@pytest.fixture(scope="module")
def vdd_specs():
    tb = get_testbench("inverter-chain")
    return [tb.spec(InverterChainTB(vdd=v)) for v in (1.4, 1.6, 1.8, 1.95)]


def test_load_once_sweep(vdd_specs):
    tb = get_testbench("inverter-chain")
    with SimulationPool(1) as pool:
        results = pool.map(vdd_specs)
        assert pool.loads == 1  # one parse of the SKY130 library for the whole sweep
    assert [r.reloaded for r in results] == [True, False, False, False]
    delays = [tb.measure(InverterChainTB(vdd=v), r)["delay_s"] for v, r in zip((1.4, 1.6, 1.8, 1.95), results)]
    # alterparam really took effect: a higher supply is faster, and the swing follows VDD
    assert all(a > b for a, b in zip(delays, delays[1:]))
    for v, r in zip((1.4, 1.6, 1.8, 1.95), results):
        assert r["out"].max() == pytest.approx(v, rel=0.08)


def test_two_workers_equal_serial(vdd_specs):
    with SimulationPool(1) as pool:
        serial = pool.map(vdd_specs)
    with SimulationPool(2) as pool:
        parallel = pool.map(vdd_specs)
        pids = set(pool.worker_pids)
    assert len({r.worker_pid for r in parallel}) == 2 and {r.worker_pid for r in parallel} <= pids
    for a, b in zip(serial, parallel):
        assert a.ok and b.ok
        assert set(a.vectors) == set(b.vectors)
        for name in a.vectors:
            assert np.array_equal(a[name], b[name]), name


def test_temperature_and_corner_change_results():
    tb = get_testbench("inverter-chain")
    points = [InverterChainTB(), InverterChainTB(temperature_C=125.0), InverterChainTB(corner="ss"),
              InverterChainTB(corner="ff")]
    with SimulationPool(1) as pool:
        results = pool.map([tb.spec(p) for p in points])
        assert pool.loads == 3  # tt (twice: temperature only), ss, ff
    meas = [tb.measure(p, r) for p, r in zip(points, results)]
    d = [x["delay_s"] for x in meas]
    # subthreshold leakage grows several-fold from 27 C to 125 C (the delay is near the
    # temperature-inversion point at 1.8 V for this chain, so it is not a useful check)
    assert meas[1]["leakage_power_W"] > 3 * meas[0]["leakage_power_W"]
    # and the transient's quiet-window leakage is the DC operating point's (inverter-leakage: the
    # same chain's two input states; the chain's input is low in its quiet window)
    leak_tb = get_testbench("inverter-leakage")
    for point, m in ((points[0], meas[0]), (points[1], meas[1])):
        dc = leak_tb.measure(point, run(leak_tb.spec(leak_tb.params_type(temperature_C=point.temperature_C))))
        assert m["leakage_power_W"] == pytest.approx(dc["leakage_input_low_W"], rel=0.02), (point, m, dc)
    assert d[2] > d[0] > d[3]  # ss slower than tt slower than ff
    # a temperature changed on a loaded deck gives exactly what a fresh load at that temperature gives
    fresh = run(tb.spec(points[1]))
    assert fresh.reloaded and np.array_equal(fresh["out"], results[1]["out"])


@pytest.mark.ngspice
def test_options_do_not_leak_between_specs():
    """ngspice options are global: a spec without options must not inherit a previous spec's."""
    from characterize.testbenches import parse_params

    tb = get_testbench("rc-step")
    plain = tb.spec(parse_params(tb, {}))
    loose = dataclasses.replace(plain, options=(("reltol", 0.05), ("method", "gear")))
    with SimulationPool(1) as pool:
        first, changed, again = pool.map([plain, loose, dataclasses.replace(plain, label="again")])
    assert not np.array_equal(first["out"], changed["out"])  # the options do change the run
    assert np.array_equal(first["out"], again["out"])



def _rc_deck(r_ohm: float, label: str = "", **changes) -> SimSpec:
    spec = SimSpec(deck=f".param rr={r_ohm}\nV1 in 0 pwl(0 0 1n 1)\nR1 in out {{rr}}\nC1 out 0 1p",
                   analysis=Tran(1e-11, 2e-9), probes=(Probe("out", "v", "out"),), technology=ideal(), label=label)
    return dataclasses.replace(spec, **changes)


@pytest.mark.ngspice
def test_held_decks_are_switched_not_parsed_again():
    """A worker keeps several circuits (setcirc): going back to one is not a load and gives the same
    vectors; beyond the limit the least recently used one is parsed again."""
    from characterize.runtime import _HELD_DECKS

    decks = [_rc_deck(1000.0 * (k + 1)) for k in range(_HELD_DECKS + 1)]
    with SimulationPool(1) as pool:
        results = [pool.map([spec])[0] for spec in (decks[0], decks[1], decks[0], decks[1])]  # one map each: no grouping
        assert pool.loads == 2
        assert [r.reloaded for r in results] == [True, True, False, False]
        for k in (0, 1):
            assert np.array_equal(results[k]["out"], results[k + 2]["out"])
        # the analytic RC step at 2 ns tells the two circuits apart (tau = 1 ns and 2 ns)
        assert results[0]["out"][-1] > results[1]["out"][-1] + 0.1
        # one more deck than the session holds: the oldest (decks[0]) is removed, so it loads again
        pool.loads = 0
        for spec in decks[2:] + [decks[0]]:
            pool.map([spec])
        assert pool.loads == len(decks[2:]) + 1
        again = pool.map([decks[-1]])[0]  # still held: no load
        assert not again.reloaded and np.array_equal(again["out"], run(decks[-1])["out"])


@pytest.mark.ngspice
def test_a_switched_circuit_is_never_reset_into_another_deck():
    """ngspice's ``reset`` re-parses the deck loaded or reset last, not the current circuit's:
    switching back to A after B was reset and resetting A simulated B's deck (found in review).
    Every reset is checked; each result here must equal a fresh run of the same spec."""
    a, b = _rc_deck(1000.0), _rc_deck(2000.0)
    sequence = [a, dataclasses.replace(a, temperature_C=85.0), b, dataclasses.replace(b, params=(("rr", 3000.0),)),
                dataclasses.replace(a, params=(("rr", 1500.0),)), a, dataclasses.replace(b, params=(("rr", 2500.0),))]
    with SimulationPool(1) as pool:
        results = [pool.map([spec])[0] for spec in sequence]  # one map each: the order above is kept
    for spec, r in zip(sequence, results):
        assert np.array_equal(r["out"], run(spec)["out"]), spec.params


@pytest.mark.ngspice
def test_held_sky130_decks_give_what_a_fresh_load_gives():
    tb = get_testbench("inverter-chain")
    tt, ss = tb.spec(InverterChainTB()), tb.spec(InverterChainTB(corner="ss", temperature_C=85.0))
    with SimulationPool(1) as pool:
        first_tt, first_ss, back_tt, back_ss = [pool.map([spec])[0] for spec in (tt, ss, tt, ss)]
        assert pool.loads == 2
    assert np.array_equal(first_tt["out"], back_tt["out"]) and np.array_equal(first_ss["out"], back_ss["out"])
    assert np.array_equal(run(ss)["out"], back_ss["out"])


def _stopping_spec(label: str, **changes) -> SimSpec:
    """A transient that stops at ngspice's default gmin and runs with a larger one.

    The reverse current of D1 is gmin x V (its saturation current is negligible): at the default
    gmin (1e-12 S) B1's logarithm runs out of range after 1.5 ns ("timestep too small"); at 1e-11 S
    its argument stays >= 3."""
    deck = ("Vr r 0 pwl(0 0 5n -5)\nVs r k dc 0\nD1 k 0 dmod\n.model dmod d(is=1e-30)\n"
            "B1 x 0 V=ln(3 - 2e9*time + 1e12*abs(i(Vs)))\nR2 x 0 1k")
    spec = SimSpec(deck=deck, analysis=Tran(step_s=1e-10, stop_s=5e-9, max_step_s=1e-10),
                   probes=(Probe("x", "v", "x"),), technology=ideal(), label=label)
    return dataclasses.replace(spec, **changes)


def test_a_stopped_transient_runs_again_with_its_fallback_options():
    rescue = ({"gmin": 1e-13}, {"gmin": 1e-11})
    specs = [_stopping_spec("plain"), _stopping_spec("rescued", fallback_options=rescue),
             _stopping_spec("direct", options={"gmin": 1e-11}),
             # every fallback fails: one error naming each attempt; one equal to the spec's options is skipped
             _stopping_spec("failed", options={"gmin": 1e-13}, fallback_options=({"gmin": 1e-13}, {"method": "gear"})),
             _stopping_spec("plain again"),  # the fallback's option does not outlive its run
             # failures that are not a stopped transient are not retried: at load, and after the run
             _stopping_spec("broken", deck="Vs in 0 1\nX1 in 0 no_such_subckt", fallback_options=rescue),
             _stopping_spec("no probe", probes=(Probe("y", "v", "nowhere"),), options={"gmin": 1e-11},
                            fallback_options=({"method": "gear"},))]
    with SimulationPool(1) as pool:
        plain, rescued, direct, failed, again, broken, no_probe = pool.map(specs)
    assert not plain.ok and plain.stopped and "fallback" not in plain.error
    assert rescued.ok and rescued.label == "rescued [fallback: gmin=1e-11]"
    assert np.array_equal(rescued["x"], direct["x"]) and rescued["time"][-1] == pytest.approx(5e-9)
    assert np.min(direct["x"]) == pytest.approx(np.log(3.0), rel=1e-6)  # ln(3 - 2t + 10t) is smallest at t = 0
    assert not failed.ok and failed.stopped
    assert "fallback method=gear:" in failed.error and "fallback gmin" not in failed.error
    assert not again.ok and again.stopped
    for result in (broken, no_probe):
        assert not result.ok and not result.stopped and "fallback" not in result.error, result.error
    assert "no vector for probes" in no_probe.error
    # the pool's deadline: the spec's timeout for each attempt, as one budget
    assert specs[1].time_allowed_s() == 3 * specs[1].timeout_s and specs[0].time_allowed_s() == specs[0].timeout_s
