"""Whole-engine BDPE deck: where the CPU goes, with the whole SKY130 library as shipped and with the subset.

    .venv/bin/python benchmarks/bench_engine.py [--path rram|register]

Runs one ``bdpe-op`` (two operations back to back, as the testbench does) in a fresh worker twice,
side by side: (a) loading the whole SKY130 library as shipped (``BDPE_FULL_LIBRARY=1``, what every
deck did before circuits/model_library.py), (b) loading the subset the deck uses, with the
technology's model edits (circuits.technology.SKY130_MODEL_EDITS: the body resistance network off).
Prints the deck load time, ngspice's analysis time, the worker's CPU time and the CPU per simulated
ns, with ngspice's own counters (equations, iterations, time points, matrix load / factor / solve
time) so the split between device evaluation and the sparse solver is visible, and the measured
result, latency and energy of both (the edits must keep them within 1 %).
"""
from __future__ import annotations

import argparse
import os
import re
import time

from characterize.procedures import get_testbench
from characterize.testbench import parse_params

_COUNTERS = ("Circuit Equations", "Transient iterations", "Transient timepoints", "Matrix load time",
             "Matrix factor time", "Matrix solve time")


def _one(spec, full: bool) -> tuple[dict, dict]:
    """Run ``spec`` in this process's ngspice (called in a fresh child process)."""
    os.environ["BDPE_FULL_LIBRARY"] = "1" if full else "0"
    from characterize.runtime import NgspiceSession

    session = NgspiceSession()
    c0 = time.process_time()
    result = session.run(spec)
    cpu = time.process_time() - c0
    out, _ = session.command("rusage all")
    counters = {}
    for line in out:
        for name in _COUNTERS:
            match = re.search(rf"{name}\s*=\s*([\d.eE+-]+)", line)
            if match:
                counters[name] = float(match.group(1))
    stats = {"load_s": result.load_time_s, "analysis_s": result.analysis_time_s, "cpu_s": cpu, **counters}
    return stats, result


def _child(args) -> tuple[dict, dict]:
    path, full = args
    tb = get_testbench("bdpe-op")
    params = parse_params(tb, {"path": path})
    stats, result = _one(tb.spec(params), full)
    m = tb.measure(params, result)
    return stats, {k: m[k] for k in ("result", "expected", "latency_s", "energy_J")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--path", choices=("rram", "register"), default="rram")
    args = ap.parse_args()
    import multiprocessing

    tb = get_testbench("bdpe-op")
    ns = tb.spec(parse_params(tb, {"path": args.path})).analysis.stop_s * 1e9
    ctx = multiprocessing.get_context("spawn")
    rows = {}
    for full in (True, False):
        with ctx.Pool(1) as pool:  # a fresh process each: one ngspice per process
            rows[full] = pool.map(_child, [(args.path, full)])[0]
    print(f"bdpe-op {args.path}: {ns:.1f} simulated ns")
    print(f"{'':28s} {'whole library':>14s} {'subset':>10s} {'ratio':>7s}")
    for key in ("load_s", "analysis_s", "cpu_s", *_COUNTERS):
        a, b = rows[True][0].get(key, float("nan")), rows[False][0].get(key, float("nan"))
        print(f"{key:28s} {a:14.2f} {b:10.2f} {a / b if b else float('nan'):7.2f}")
    a, b = rows[True][0]["cpu_s"] / ns, rows[False][0]["cpu_s"] / ns
    print(f"{'CPU s per simulated ns':28s} {a:14.2f} {b:10.2f} {a / b:7.2f}")
    for key in ("result", "expected", "latency_s", "energy_J"):
        a, b = rows[True][1][key], rows[False][1][key]
        print(f"{key:28s} {a:14.6g} {b:10.6g} {a / b if b else float('nan'):7.4f}")


if __name__ == "__main__":
    main()
