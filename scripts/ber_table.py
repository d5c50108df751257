"""The window table of a ``sense_ber`` table file: for each corner and RRAM spread (sigma/mu), the
smallest resistance window at which the read bit-error rate falls below 1e-3, 1e-6 and 1e-9, the
BER at the largest characterized window, and the digits-bnn test accuracy at those rates.

    .venv/bin/python scripts/ber_table.py out/sense_ber.h5 [--vdd 1.8] [--t-sense 1.2e-9] [--seeds 5]
                                          [--json FILE]

Two tables from the same Monte Carlo points:

* the read path as designed: the table's ``ber`` (counted where 20+ errors were seen, else the
  normal tail of the fitted signed margin, the amplifier's own trip point included:
  characterize/ber_stats.py);
* an offset-free comparator: the normal tail of the bit-line margin alone (RRAM spread, access and
  reference mismatch; the amplifier's offset left out), always fitted: what the sensing scheme
  gives before its amplifier, the comparison the paper's robustness claim invites.

The crossing is read between characterized windows, log BER linear in log window (as
``system_model.faults.ber_from_tables`` interpolates); only a crossing after which every larger
window stays below the target counts. ``> W`` means no characterized window reaches the target,
``<= W`` that the smallest already does. The accuracy in the BER column is
``system_model.trained.accuracy_under_errors`` at that rate; the accuracy at a target rate (the
smallest window that meets it) is printed below the tables (persistent errors, every kernel word in
RRAM, ``--seeds`` seeds). The paper's claim (Giacomin et al., via Vieira et al. 2019): single-ended
XNOR sensing robust down to a window of 1.09, and at sigma/mu = 25 % with a window of ~50.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from characterize.ber_stats import normal_tail  # noqa: E402  (after the path: runs from a checkout)

TARGETS = (1e-3, 1e-6, 1e-9)
PAPER = "paper (28 nm, Giacomin et al.): robust down to window 1.09; at sigma/mu = 25 % a window of ~50"


def crossing_window(windows: np.ndarray, ber: np.ndarray, target: float) -> tuple[float, str]:
    """(window, text) where ``ber`` (over increasing ``windows``) falls below ``target`` for good;
    NaN and ``> W`` if it never does, the first window and ``<= W`` if it starts below."""
    order = np.argsort(windows)
    w, b = np.asarray(windows, float)[order], np.asarray(ber, float)[order]
    below = b < target
    if not below[-1]:
        return math.nan, f"> {w[-1]:g}"
    first = len(w) - int(np.argmin(below[::-1])) if not below.all() else 0  # start of the final run below
    if first == 0:
        return float(w[0]), f"<= {w[0]:g}"
    lb = np.log(np.maximum(b[first - 1:first + 1], 1e-300))
    lw = np.log(w[first - 1:first + 1])
    frac = (math.log(target) - lb[0]) / (lb[1] - lb[0]) if lb[1] != lb[0] else 1.0
    value = float(np.exp(lw[0] + min(max(frac, 0.0), 1.0) * (lw[1] - lw[0])))
    return value, f"{value:.3g}"


def sense_path_ber(get) -> float:
    """The table's ``ber``: the whole read path, the amplifier's offset included."""
    return float(get("ber"))


def offset_free_ber(get) -> float:
    """The normal tail of the bit-line margin alone (an ideal comparator: RRAM spread, access and
    reference mismatch only), stored 1 and 0 equally likely: always fitted, never counted."""
    tails = [normal_tail(float(get(f"bl_margin_mean_{s}_V")), float(get(f"bl_margin_sigma_{s}_V"))) for s in ("lrs", "hrs")]
    return 0.5 * sum(tails)


def _table_rows(tables, vdd: float | None, t_sense: float | None, ber_of) -> list[dict]:
    op = "sense_ber"
    axes = tables.axes(op)
    coords = {}
    for name, value in (("vdd", vdd), ("t_sense", t_sense)):
        if name in axes:
            coords[name] = float(axes[name][0]) if value is None else value
    rows = []
    windows = np.asarray(axes["window"], float)
    for corner in axes["corner"]:
        for sigma in (axes["d2d_sigma"] if "d2d_sigma" in axes else [None]):
            at = {**coords, "corner": str(corner), **({"d2d_sigma": float(sigma)} if sigma is not None else {})}
            ber = np.array([ber_of(lambda m, w=float(w): tables.lookup(op, m, **at, window=w)) for w in windows])
            row = {"corner": str(corner), "d2d_sigma": sigma, "ber_max_window": float(ber[np.argmax(windows)]),
                   "max_window": float(windows.max()), "ber": dict(zip(map(float, windows), map(float, ber)))}
            for target in TARGETS:
                row[f"window_{target:g}"], row[f"window_{target:g}_text"] = crossing_window(windows, ber, target)
            rows.append(row)
    return rows


def _accuracies(rates, seeds: int) -> dict[str, dict]:
    from system_model.trained import accuracy_under_errors, load_trained

    model = load_trained("digits-bnn")
    out = {}
    for rate in sorted(set(rates)):
        res = accuracy_under_errors(model, float(rate), mode="persistent", seeds=seeds)
        out[f"{rate:.6g}"] = {"accuracy": res["accuracy"], "accuracy_std": res["accuracy_std"]}
    return out


def markdown(title: str, rows: list[dict], acc: dict[str, dict]) -> str:
    head = (f"{title}\n\n| corner | sigma/mu | BER at window {rows[0]['max_window']:g} (digits-bnn accuracy) | "
            "smallest window: BER < 1e-3 | < 1e-6 | < 1e-9 |\n|---|---|---|---|---|---|")
    lines = [head]
    for r in rows:
        a = acc[f"{r['ber_max_window']:.6g}"]
        sigma = "-" if r["d2d_sigma"] is None else f"{100 * r['d2d_sigma']:g} %"
        lines.append(f"| {r['corner']} | {sigma} | {r['ber_max_window']:.3g} ({a['accuracy']:.4f}) | "
                     + " | ".join(r[f"window_{t:g}_text"] for t in TARGETS) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("tables")
    ap.add_argument("--vdd", type=float)
    ap.add_argument("--t-sense", type=float)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--json", help="also write the rows and accuracies as JSON")
    args = ap.parse_args(argv)
    from characterize import open_tables

    tables = open_tables(args.tables)
    if "sense_ber" not in tables.operations:
        print(f"ber_table: {args.tables}: holds no sense_ber operation", file=sys.stderr)
        return 2
    blocks = {"sense_path": ("The read path (amplifier offset included; the table's ber)", sense_path_ber),
              "offset_free": ("An offset-free comparator (bit-line margin only; fitted)", offset_free_ber)}
    rows = {key: _table_rows(tables, args.vdd, args.t_sense, fn) for key, (_, fn) in blocks.items()}
    acc = _accuracies([*TARGETS, *(r["ber_max_window"] for rs in rows.values() for r in rs)], args.seeds)
    for key, (title, _) in blocks.items():
        print(markdown(title, rows[key], acc) + "\n")
    print("digits-bnn accuracy at BER = the target (persistent errors, every kernel word in RRAM): "
          + ", ".join(f"{t:g}: {acc[f'{t:.6g}']['accuracy']:.4f} +- {acc[f'{t:.6g}']['accuracy_std']:.4f}" for t in TARGETS))
    print(PAPER)
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "accuracy": acc, "paper": PAPER}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
