"""Gain vs RRAM capacity on the paper platform, with each mechanism's contribution and the range
over the uncertain latencies (system_model.capacity.capacity_curve).

    .venv/bin/python scripts/capacity_curve.py [--network yolov3-tiny] [--order pixel-filter-word]
                                               [--row-align-bits 256] [--json]

Columns: capacity (64-bit words), usage (BDPs served from RRAM), performance and energy gain (point
[low, high]), then the performance gain split by cause in percentage points (issue: fewer
instructions and shorter chains; L1 lat: L1D load-to-use; L2 / DRAM: stalls of loads served
there; mispred: branch mispredictions), the loads no longer served by L1D / L2 / DRAM, and the
mispredictions of the baseline and BDPE runs.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from system_model import get_network, get_platform  # noqa: E402
from system_model.capacity import capacity_curve  # noqa: E402


def _row(p: dict) -> str:
    c, lr = p["contribution_pp"], p["loads_removed"]
    cap = "all" if p["all_words"] else f"{p['words']:,}"
    pr, er = p["performance_range"], p["energy_range"]
    return (f"{cap:>7s} {100 * p['usage']:6.2f}%  {100 * p['performance']:+6.2f}% [{100 * pr[0]:+6.2f}, {100 * pr[1]:+6.2f}]"
            f"  {100 * p['energy']:+6.2f}% [{100 * er[0]:+6.2f}, {100 * er[1]:+6.2f}]"
            f"  {c['issue']:+6.2f} {c['load_l1']:+6.2f} {c['load_l2']:+7.4f} {c['load_dram']:+7.4f} {c['mispredict']:+8.5f}"
            f"  {lr['l1'] / 1e6:7.3f} {lr['l2'] / 1e3:8.2f} {lr['dram'] / 1e3:7.2f}"
            f"  {p['mispredictions']['baseline'] / 1e3:7.1f} {p['mispredictions']['bdpe'] / 1e3:7.1f}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--network", default="yolov3-tiny")
    ap.add_argument("--order", default=None, help="loop order (filter-pixel-word, pixel-filter-word)")
    ap.add_argument("--row-align-bits", type=int, default=None, help="row stride alignment of the packed matrices")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    platform = get_platform("paper-a53")
    nest = platform.fidelity.loop_nest
    if args.order:
        nest = replace(nest, order=args.order)
    if args.row_align_bits:
        nest = replace(nest, row_align_bits=args.row_align_bits)
    platform = replace(platform, fidelity=replace(platform.fidelity, loop_nest=nest))
    points = capacity_curve(get_network(args.network), platform)
    if args.json:
        print(json.dumps(points, indent=2))
        return 0
    print(f"{args.network} on paper-a53, published 28 nm DotP, loop order {nest.order}, rows aligned to "
          f"{nest.row_align_bits} bits")
    print(f"{'words':>7s} {'usage':>7s}  {'performance [range]':>26s}  {'energy [range]':>26s}"
          f"  {'issue':>6s} {'L1 lat':>6s} {'L2':>7s} {'DRAM':>7s} {'mispred':>8s}"
          f"  {'-L1 (M)':>7s} {'-L2 (k)':>8s} {'-DRAM(k)':>7s}  {'mp base':>7s} {'mp BDPE':>7s}")
    print(f"{'':>7s} {'':>7s}  {'':>26s}  {'':>26s}  {'(percentage points of the performance gain)':>42s}"
          f"  {'(loads no longer served)':>25s}  {'(thousands)':>15s}")
    for p in points:
        print(_row(p))
    return 0


if __name__ == "__main__":
    sys.exit(main())
