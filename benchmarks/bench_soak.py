"""Soak: 300 alter-swept points then 300 reset-swept points on one loaded SKY130 deck.

Checks the toolchain trap "memory grows and runs slow down without remcirc": prints the mean time
per point of the first and last 30 points of each sweep and the process's peak RSS.

Run: .venv/bin/python benchmarks/bench_soak.py
"""
from __future__ import annotations

import resource
import time

import numpy as np


def _sweep(session, specs) -> list[float]:
    times = []
    for spec in specs:
        t0 = time.perf_counter()
        session.run(spec)
        times.append(time.perf_counter() - t0)
    return times


def main() -> None:
    from characterize.runtime import NgspiceSession
    from characterize.testbenches import InverterChainTB, get_testbench

    tb = get_testbench("inverter-chain")
    session = NgspiceSession()
    session.run(tb.spec(InverterChainTB()))
    sweeps = {
        # the same 10 values cycled 30 times, so the first and last 30 points are the same work
        "VDD via alter (no reset)": [tb.spec(InverterChainTB(vdd=float(v))) for v in np.tile(np.linspace(1.2, 1.95, 10), 30)],
        "temperature via reset": [tb.spec(InverterChainTB(temperature_C=float(t)))
                                  for t in np.tile(np.linspace(-40, 125, 10), 30)],
    }
    for name, specs in sweeps.items():
        times = _sweep(session, specs)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"{name:26s} first 30: {np.mean(times[:30]) * 1e3:6.1f} ms/pt  last 30: "
              f"{np.mean(times[-30:]) * 1e3:6.1f} ms/pt  ratio {np.mean(times[-30:]) / np.mean(times[:30]):5.2f}  "
              f"peak RSS {rss:.0f} MB")


if __name__ == "__main__":
    main()
