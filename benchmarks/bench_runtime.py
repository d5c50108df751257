"""Benchmark: cost per sweep point of a SKY130 inverter-chain VDD sweep, measured side by side.

(a) one ngspice load per point (remcirc + re-parse of the SKY130 library every point);
(b) load-once worker session (alterparam + reset per point), in-process and through the pool;
(c) ngspice's own analysis time ("rusage time") of the same points.

Run: .venv/bin/python benchmarks/bench_runtime.py [--points N]
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=12)
    args = parser.parse_args()

    from characterize.runtime import NgspiceSession, SimulationPool
    from characterize.testbenches import InverterChainTB, get_testbench

    tb = get_testbench("inverter-chain")
    vdds = np.linspace(1.2, 1.95, args.points)
    specs = [tb.spec(InverterChainTB(vdd=float(v))) for v in vdds]
    session = NgspiceSession()

    # (a) reload every point
    t0 = time.perf_counter()
    reload_results = [session.run(s, force_reload=True) for s in specs]
    t_a = (time.perf_counter() - t0) / len(specs)

    # (b) load once, then sweep (the first run pays the load; steady state excludes it)
    session.close()
    t0 = time.perf_counter()
    first = session.run(specs[0])
    t_first = time.perf_counter() - t0
    t0 = time.perf_counter()
    sweep_results = [first] + [session.run(s) for s in specs[1:]]
    t_b = (time.perf_counter() - t0) / (len(specs) - 1)
    t_b_amortized = (t_first + t_b * (len(specs) - 1)) / len(specs)
    assert all(r.reloaded for r in reload_results) and not any(r.reloaded for r in sweep_results[1:])
    for r1, r2 in zip(reload_results, sweep_results):  # same numbers either way
        assert np.array_equal(r1["out"], r2["out"])

    # (b') the same through a 1-worker SimulationPool (process isolation + pipe transfer)
    with SimulationPool(1) as pool:
        pool.run(specs[0])
        t0 = time.perf_counter()
        pool.map(specs[1:])
        t_pool = (time.perf_counter() - t0) / (len(specs) - 1)

    # (c) ngspice's own analysis time of the same points
    t_c = statistics.fmean(r.analysis_time_s for r in sweep_results[1:])

    print(f"SKY130 inverter chain ({specs[0].label.split()[0]}), VDD sweep of {len(specs)} points, "
          f"time per point:")
    print(f"  (a) one load per point            {t_a * 1e3:9.1f} ms")
    print(f"  (b) load-once session, steady     {t_b * 1e3:9.1f} ms   (a)/(b) = {t_a / t_b:6.1f}x")
    print(f"      load-once incl. first load    {t_b_amortized * 1e3:9.1f} ms   (a)/(b) = {t_a / t_b_amortized:6.1f}x")
    print(f"      load-once via SimulationPool  {t_pool * 1e3:9.1f} ms   (a)/(b) = {t_a / t_pool:6.1f}x")
    print(f"  (c) ngspice analysis time         {t_c * 1e3:9.1f} ms   (b)/(c) = {t_b / t_c:6.2f}x, "
          f"pool/(c) = {t_pool / t_c:6.2f}x")
    print(f"  goal: (a)/(b) >= 20x -> {'met' if t_a / t_b >= 20 else 'NOT met'}; "
          f"(b)/(c) <= 1.5x -> {'met' if t_b / t_c <= 1.5 else 'NOT met'}")


if __name__ == "__main__":
    main()
