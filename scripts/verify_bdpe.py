"""Functional verification of the transistor-level BDPE in SPICE.

For every corner given: one transient runs all RRAM-path operations (rows of the array hold the
stored words, each operation reads one row) and one transient runs the same (stored, input) pairs
on the register path; the 7-bit result is read from the output nodes and compared with
popcount(~(stored ^ input)). Prints a table and writes JSON.

    .venv/bin/python scripts/verify_bdpe.py --corners tt ss ff --jobs 2 --out out/verify_bdpe.json
    .venv/bin/python scripts/verify_bdpe.py --parasitics estimated --corners ss --jobs 1 --out /tmp/v.json
    .venv/bin/python scripts/verify_bdpe.py --technology freepdk45 --corners tt ss ff --jobs 1 --out out/verify_bdpe_freepdk45.json

``--technology freepdk45``: the 45 nm engine (circuits.engine_design: its access device, array wiring,
sense amplifier and windows) at the technology's nominal supply (1.1 V); corners tt, ss, ff.

``--foundry-cards``: the technology's model cards as shipped (SKY130: with the body resistance
network that circuits.technology.SKY130_MODEL_EDITS switches off), to compare with the default.

``--parasitics estimated``: the decks with estimated parasitics (derived cell netlists of
circuits.parasitics and the wire loads of circuits.wireload) and their wider windows
(characterize.bdpe_testbenches.PARASITIC_WINDOWS).

The 8-pair set (``--rows 2 --inputs-per-row 2``) takes ~5 min of CPU per corner (the RRAM-path deck
has ~4,900 transistors and runs at 4-5 s of CPU per simulated ns); the default 24-pair set ~3x that.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

from characterize.bdpe_testbenches import BDPEOp, bdpe_sequence, deck_timing, measure_sequence, verification_set
from characterize.files import atomic_write
from characterize.runtime import SimulationPool
from characterize.testbench import robust_spec
from circuits.bdpe import ArrayParams, BDPEParams, CellParams
from circuits.engine_design import engine_design
from circuits.netlist import NetlistValueError
from circuits.technology import TECHNOLOGIES, get_technology


def _timing(technology: str, parasitics: str):
    """The control windows of the technology's engine (estimated parasitics: the wider windows)."""
    return deck_timing(parasitics, **engine_design(get_technology(technology)).timing)


def plan(corner: str, seed: int, n_rows: int, inputs_per_row: int, parasitics: str = "none",
         technology: str = "sky130", foundry_cards: bool = False):
    words, pairs = verification_set(seed, n_rows, inputs_per_row)
    # estimated: parasitic cells + the engine's wire loads, and the wider windows of deck_timing
    base = get_technology(technology)
    base.check_corner(corner, "--corners")
    tech = base.with_stdcell_parasitics(parasitics, "--parasitics")
    if foundry_cards:  # the model cards as shipped (no Technology.model_edits) and in place (not hoisted)
        tech = dataclasses.replace(tech.with_model_edits(()), hoist_models=False)
    design = engine_design(base)
    timing = _timing(technology, parasitics)
    vdd = base.vdd_nominal_V
    tag = (("" if technology == "sky130" else f" {technology}") + ("" if parasitics == "none" else f" {parasitics}")
           + (" foundry-cards" if foundry_cards else ""))
    cell = CellParams(**design.cell)
    rram = BDPEParams(array=ArrayParams(words=words, cell=cell, **design.array), sense=design.sense)
    reg = BDPEParams(array=ArrayParams(words=(0,), cell=cell, **design.array), sense=design.sense, read_path=False)
    rram_ops = [BDPEOp("rram", x, row) for row, x in pairs]
    reg_ops = [BDPEOp("register", x, 0, words[row]) for row, x in pairs]
    gear = ({"method": "gear"},)  # a transient that stops runs again with gear at the same steps
    return [(rram, rram_ops, dataclasses.replace(bdpe_sequence(rram, tech, rram_ops, corner=corner, vdd=vdd, timing=timing,
                                                               label=f"verify rram {corner}{tag}"), fallback_options=gear)),
            (reg, reg_ops, dataclasses.replace(bdpe_sequence(reg, tech, reg_ops, corner=corner, vdd=vdd, timing=timing,
                                                             label=f"verify register {corner}{tag}"), fallback_options=gear))]


def _run_with_retries(pool, jobs: list) -> tuple[list, list]:
    """Run every job's spec. A deck that stops (e.g. "timestep too small") runs again with gear
    integration at the same steps inside its worker (the specs' ``fallback_options``); a deck that
    still fails, or fails any other way, is retried with the campaigns' robust settings
    (characterize.testbench.robust_spec: gear, max step / 4, ~4x the CPU). The label of a result
    says which settings ran (printed and written). Returns the jobs (retried specs in place) and
    their results."""
    results = pool.map([j[3] for j in jobs])
    failed = [k for k, r in enumerate(results) if not r.ok]
    for k in failed:
        print(f"{jobs[k][3].label}: {results[k].error_kind}: {results[k].error}; retrying with gear, max step / 4",
              flush=True)
    jobs = [j if k not in failed else (*j[:3], dataclasses.replace(robust_spec(j[3]), fallback_options=()))
            for k, j in enumerate(jobs)]
    for k, r in zip(failed, pool.map([jobs[k][3] for k in failed])):
        results[k] = r
    return jobs, results


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corners", nargs="+", default=["tt", "ss", "ff"])
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--seed", type=int, default=2019)
    ap.add_argument("--rows", type=int, default=5, help="random stored words")
    ap.add_argument("--inputs-per-row", type=int, default=4)
    ap.add_argument("--out", default="out/verify_bdpe.json")
    ap.add_argument("--paths", nargs="+", choices=("rram", "register"), default=["rram", "register"])
    ap.add_argument("--parasitics", choices=("none", "estimated", "layout"), default="none",
                    help="estimated / layout: cells with estimated / layout-read parasitics, the engine's wire loads, "
                         "wider windows")
    ap.add_argument("--technology", choices=[t for t in TECHNOLOGIES if t != "ideal"], default="sky130",
                    help="the engine's technology (circuits.engine_design sizes it)")
    ap.add_argument("--foundry-cards", action="store_true",
                    help="the technology's model cards as shipped, without its model_edits (SKY130: body "
                         "resistance network on; circuits.technology.SKY130_MODEL_EDITS)")
    args = ap.parse_args()
    vdd = get_technology(args.technology).vdd_nominal_V
    jobs = []
    try:
        for corner in args.corners:
            for params, ops, spec in plan(corner, args.seed, args.rows, args.inputs_per_row, args.parasitics,
                                          args.technology, args.foundry_cards):
                if ops[0].path in args.paths:
                    jobs.append((corner, params, ops, spec))
    except NetlistValueError as exc:
        print(f"verify_bdpe: error: {exc}", file=sys.stderr)
        return 2
    t0 = time.time()
    with SimulationPool(args.jobs) as pool:
        jobs, results = _run_with_retries(pool, jobs)
    report = []
    failures = 0
    for (corner, params, ops, spec), r in zip(jobs, results):
        if not r.ok:
            print(f"{spec.label}: simulation failed: {r.error}")
            failures += 1
            continue
        rows = measure_sequence(params, ops, r, vdd=vdd, timing=_timing(args.technology, args.parasitics))
        ok = sum(x["correct"] for x in rows)
        lat = max((x["latency_s"] for x in rows if x["latency_s"] == x["latency_s"]), default=float("nan"))
        energy = sum(x["energy_J"] for x in rows) / len(rows)
        ns = spec.analysis.stop_s * 1e9
        print(f"{r.label:24s} {ok}/{len(rows)} correct   worst latency {lat * 1e9:.3f} ns   mean energy "
              f"{energy * 1e12:.3f} pJ   ({r.wall_time_s:.0f} s: load {r.load_time_s:.1f} s, analysis "
              f"{r.analysis_time_s:.1f} s = {r.analysis_time_s / ns:.2f} s per simulated ns of {ns:.1f})")
        for x in rows:
            if not x["correct"]:
                print(f"   wrong: stored {x['stored']:#018x} x {x['x']:#018x} -> {x['result']} (expected {x['expected']})")
        failures += len(rows) - ok
        report.append({"technology": args.technology, "foundry_cards": args.foundry_cards, "vdd_V": vdd, "corner": corner, "path": ops[0].path, "label": r.label, "operations": [
            {**x, "stored": f"{x['stored']:#018x}", "x": f"{x['x']:#018x}"} for x in rows]})
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    atomic_write(Path(args.out), json.dumps(report, indent=1, default=float))
    print(f"{failures} failures; {time.time() - t0:.0f} s; written {args.out}")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
