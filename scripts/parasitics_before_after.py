"""The BDPE without and with estimated parasitics (issue 18): a before/after table per path and corner.

    .venv/bin/python scripts/parasitics_before_after.py --run /tmp/parasitics.h5 --cache /tmp/bdpe-par-cache
    .venv/bin/python scripts/parasitics_before_after.py --tables /tmp/parasitics.h5      # print only

``--run`` characterizes ``campaigns/parasitics.toml`` (corner tt/ss/ff x parasitics
none/estimated/layout: ``popcount``, ``sense_xnor``, ``bdpe_rram``, ``bdpe_register``; 36 points)
into the given file, then prints; ``--tables`` prints from a file made by that campaign.
"Before" is ``parasitics=none`` (the cell netlists as shipped, no wiring); there are two "after"
tables: ``parasitics=estimated`` (circuits.parasitics.SKY130_HD cells + circuits.wireload
interconnect, with the wider windows of ``characterize.bdpe_testbenches.PARASITIC_WINDOWS``) and
``parasitics=layout`` (the same with SKY130_HD_LAYOUT: junctions and contact resistances read from
the cells' layouts).

Columns: latency (trigger 50 % -> last result bit 50 %), energy of the operation (every supply and
control source), the sense margin of sense_xnor (the smallest of the four stored/input cases),
the popcount testbench's worst vector (all-ones after all-zeros + 3 random vectors, 9 ns each) and
the slack of the deck's evaluation window over the measured latency (window end - latency).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

CAMPAIGN = Path(__file__).resolve().parents[1] / "campaigns" / "parasitics.toml"
CORNERS = ("tt", "ss", "ff")
MODES = ("none", "estimated", "layout")


def _windows() -> dict[str, dict[str, float]]:
    """End of the result window after the trigger (s), per path and mode (as the decks use them)."""
    from characterize.bdpe_testbenches import deck_timing

    out = {}
    for mode in MODES:
        t = deck_timing(mode)
        out[mode] = {"rram": t.t_pre + t.t_sense + t.t_eval, "register": t.t_register}
    return out


def rows(tables, modes=MODES) -> list[dict]:
    """One row per (corner, path): before/after values read from the tables, for ``modes``."""
    windows = _windows()
    out = []
    for corner in CORNERS:
        def get(op, metric, mode):
            return tables.lookup(op, metric, corner=corner, parasitics=mode)
        pc = {m: get("popcount", "latency_max_s", m) for m in modes}
        pe = {m: get("popcount", "energy_per_vector_J", m) for m in modes}
        margin = {m: get("sense_xnor", "sense_margin_V", m) for m in modes}
        for path in ("rram", "register"):
            op = f"bdpe_{path}"
            lat = {m: get(op, "latency_s", m) for m in modes}
            out.append({"corner": corner, "path": path,
                        "latency_s": lat, "energy_J": {m: get(op, "energy_J", m) for m in modes},
                        "correct": {m: get(op, "correct", m) for m in modes},
                        "slack_s": {m: windows[m][path] - lat[m] for m in modes},
                        "sense_margin_V": margin if path == "rram" else None,
                        "popcount_worst_s": pc, "popcount_energy_J": pe})
    return out


def _pair(d, scale, fmt=".2f", after="estimated"):
    a, b = d["none"] * scale, d[after] * scale
    return f"{a:{fmt}} -> {b:{fmt}} (x{b / a:.2f})"


def print_table(data: list[dict], source: str, after: str = "estimated") -> None:
    print(f"BDPE before (parasitics=none) -> after (parasitics={after}), VDD 1.8 V, 27 C; tables: {source}")
    head = ("| corner | path | latency ns | energy pJ | window slack ns | correct | sense margin mV | "
            "popcount worst vector ns | popcount energy/vector pJ |")
    print(head)
    print("|---" * (head.count("|") - 1) + "|")
    for r in data:
        margin = _pair(r["sense_margin_V"], 1e3, ".1f", after) if r["sense_margin_V"] else "-"
        slack = f"{r['slack_s']['none'] * 1e9:.2f} -> {r['slack_s'][after] * 1e9:.2f}"
        ok = f"{int(r['correct']['none'])} / {int(r['correct'][after])}"
        print(f"| {r['corner']} | {r['path']} | {_pair(r['latency_s'], 1e9, after=after)} | "
              f"{_pair(r['energy_J'], 1e12, after=after)} | {slack} | {ok} | {margin} | "
              f"{_pair(r['popcount_worst_s'], 1e9, after=after)} | {_pair(r['popcount_energy_J'], 1e12, after=after)} |")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--tables", help="an HDF5 file made from campaigns/parasitics.toml")
    src.add_argument("--run", metavar="OUT.h5", help="characterize campaigns/parasitics.toml into OUT.h5 first")
    ap.add_argument("--cache", help="point cache for --run (default: $BDPE_CACHE or .bdpe-cache)")
    ap.add_argument("--jobs", type=int, default=1)
    args = ap.parse_args(argv)
    from characterize import load_campaign, open_tables, run_campaign
    from circuits.netlist import InputError

    path = args.tables or args.run
    try:
        if args.run:
            kwargs = {"cache_dir": args.cache} if args.cache else {}
            run_campaign(load_campaign(CAMPAIGN), args.run, jobs=args.jobs, **kwargs)
        if not Path(path).is_file():
            print(f"parasitics_before_after: error: --tables: {path!r} is not a file", file=sys.stderr)
            return 2
        tables = open_tables(path)
        missing = [op for op in ("popcount", "sense_xnor", "bdpe_rram", "bdpe_register") if op not in tables.operations
                   or "parasitics" not in tables.axes(op)]
        if missing:
            print(f"parasitics_before_after: error: --tables: {path} lacks {', '.join(missing)} with a parasitics axis "
                  f"(make it from {CAMPAIGN.name})", file=sys.stderr)
            return 2
        present = {str(v) for op in ("popcount", "sense_xnor", "bdpe_rram", "bdpe_register")
                   for v in tables.axes(op)["parasitics"]}
        modes = tuple(m for m in MODES if m in present)
        if "none" not in modes or len(modes) < 2:
            print(f"parasitics_before_after: error: --tables: {path} has parasitics {sorted(present)}, needs none and "
                  "estimated or layout", file=sys.stderr)
            return 2
        data = rows(tables, modes)
        for after in modes[1:]:
            print_table(data, path, after)
            print()
    except InputError as exc:
        print(f"parasitics_before_after: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
