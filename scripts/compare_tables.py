"""Compare two table files metric by metric: the same operations, axes, metrics, text metrics and
status, every number equal within --rtol (default 0: bit for bit; NaN equals NaN).

Used to show that a refactoring changed no result:
    .venv/bin/python scripts/compare_tables.py before.h5 after.h5
Exit code 0 when equal, 1 with one line per difference otherwise. Metrics that time the simulator
itself (``analysis_time_s``) differ from run to run and are skipped unless --include-timing.
"""
from __future__ import annotations

import argparse
import sys

import numpy as np


TIMING_METRICS = ("analysis_time_s",)  # how fast ngspice ran, not what it computed: differs run to run


def differences(a_path: str, b_path: str, rtol: float = 0.0, include_timing: bool = False) -> list[str]:
    from characterize import open_tables

    a, b = open_tables(a_path), open_tables(b_path)
    if a.operations != b.operations:
        return [f"operations differ: {a.operations} vs {b.operations}"]
    out = []
    for op in a.operations:
        ta, tb = a.table(op), b.table(op)
        if list(ta.axes) != list(tb.axes) or any(list(ta.axes[k]) != list(tb.axes[k]) for k in ta.axes):
            out.append(f"{op}: axes differ")
            continue
        if sorted(ta.metrics) != sorted(tb.metrics) or sorted(ta.texts) != sorted(tb.texts):
            out.append(f"{op}: metric names differ: {sorted(ta.metrics)} vs {sorted(tb.metrics)}")
            continue
        for name in sorted(ta.metrics):
            if name in TIMING_METRICS and not include_timing:
                continue
            x, y = ta.metrics[name], tb.metrics[name]
            same = np.isclose(x, y, rtol=rtol, atol=0.0, equal_nan=True) if rtol else \
                (x == y) | (np.isnan(x) & np.isnan(y))
            if not np.all(same):
                worst = np.nanmax(np.abs(x - y) / np.maximum(np.abs(y), 1e-300))
                out.append(f"{op}.{name}: {int(np.sum(~same))} values differ (largest relative difference {worst:.3g})")
        for name in sorted(ta.texts):
            if not np.array_equal(ta.texts[name], tb.texts[name]):
                out.append(f"{op}.{name}: text values differ")
        if not np.array_equal(ta.status, tb.status):
            out.append(f"{op}.status differs")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description="compare two bdpe table files")
    parser.add_argument("a")
    parser.add_argument("b")
    parser.add_argument("--rtol", type=float, default=0.0)
    parser.add_argument("--include-timing", action="store_true",
                        help=f"also compare {', '.join(TIMING_METRICS)} (the simulator's run time)")
    args = parser.parse_args()
    diff = differences(args.a, args.b, args.rtol, args.include_timing)
    for line in diff:
        print(line)
    if not diff:
        skipped = "" if args.include_timing else f" ({', '.join(TIMING_METRICS)} skipped)"
        print(f"equal: every operation, axis, metric and status of {args.a} and {args.b} (rtol {args.rtol:g}){skipped}")
    return 1 if diff else 0


if __name__ == "__main__":
    sys.exit(main())
