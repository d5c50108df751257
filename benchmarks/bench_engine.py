"""Whole-engine BDPE deck: where the CPU goes, today's code against an earlier commit's, side by side.

    .venv/bin/python benchmarks/bench_engine.py [--path rram|register] [--reference-commit REF]
                                                [--cases all|ends] [--repeat N]

Runs one ``bdpe-op`` (two operations back to back, as the testbench does), each case in a fresh
process (one ngspice per process), one after the other:

(r) ``--reference-commit REF`` (e.g. 1eed1c8, the tree issue 13 was filed against): the code of
    that commit, checked out with ``git worktree`` into a temporary directory and put first on
    PYTHONPATH (same venv, same ngspice), run with ``BDPE_FULL_LIBRARY=1`` (the whole library, as
    every deck loaded it before circuits/model_library.py; a later commit's subsets are not used);
(a) this tree loading the whole SKY130 library as shipped (``BDPE_FULL_LIBRARY=1``: no subset, no
    model edits);
(b) this tree with the subset the deck uses and the technology's model edits
    (circuits.technology.SKY130_MODEL_EDITS: the body resistance network off), device models in
    their subcircuits (``BDPE_HOIST_MODELS=0``);
(c) this tree as it runs: (b) with the device models moved out of the FET subcircuits
    (circuits.model_library.hoist_device_models).

Prints the deck load time, ngspice's analysis time, the process's CPU time and the CPU per
simulated ns, ngspice's own counters (equations, iterations, time points, matrix load / factor /
solve time: device evaluation vs the sparse solver) and the measured result, latency and energy
of every case; the ratio column is the first case over the last.  The measurement must agree within
1 % (latency, energy) and exactly (result).  ``--repeat N`` runs N rounds of the cases interleaved
(every other round in reverse order) and prints every round's CPU per simulated ns, the medians and the ratio of the first case to the
last per round (a single run of the reference has moved by 20 % between quiet runs); ``--cases
ends`` leaves out the middle columns.  Needs a quiet machine: CPU time of a 2-core machine
with other work running is not a benchmark.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_COUNTERS = ("Circuit Equations", "Transient iterations", "Transient timepoints", "Matrix load time",
             "Matrix factor time", "Matrix solve time")


def _child(path: str) -> None:
    """Measure one bdpe-op in this process with whatever code PYTHONPATH selects; JSON on stdout."""
    try:  # the testbench registry moved (characterize.testbenches -> characterize.procedures)
        from characterize.procedures import get_testbench
        from characterize.testbench import parse_params
    except ImportError:
        from characterize.testbenches import get_testbench, parse_params
    from characterize.runtime import NgspiceSession

    tb = get_testbench("bdpe-op")
    params = parse_params(tb, {"path": path})
    spec = tb.spec(params)
    session = NgspiceSession()
    c0 = time.process_time()
    result = session.run(spec)
    cpu = time.process_time() - c0
    out, _ = session.command("rusage all")
    stats = {"load_s": result.load_time_s, "analysis_s": result.analysis_time_s, "cpu_s": cpu,
             "simulated_ns": spec.analysis.stop_s * 1e9}
    for line in out:
        for name in _COUNTERS:
            match = re.search(rf"{name}\s*=\s*([\d.eE+-]+)", line)
            if match:
                stats[name] = float(match.group(1))
    m = tb.measure(params, result)
    print(json.dumps({"stats": stats, "measured": {k: float(m[k]) for k in ("result", "expected", "latency_s", "energy_J")}}))


def _run_case(path: str, pythonpath: Path, full_library: bool, hoist: bool = False) -> dict:
    env = dict(os.environ, PYTHONPATH=str(pythonpath), BDPE_FULL_LIBRARY="1" if full_library else "0",
               BDPE_HOIST_MODELS="1" if hoist else "0")
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", path], env=env,
                          capture_output=True, text=True, cwd=str(pythonpath))
    if proc.returncode != 0:
        raise SystemExit(f"bench_engine: case failed ({pythonpath}, full library {full_library}):\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _print(cases: dict[str, dict]) -> None:
    names = list(cases)
    last = names[-1]
    ns = cases[last]["stats"]["simulated_ns"]
    print(f"bdpe-op: {ns:.1f} simulated ns; ratio = {names[0]} / {last}")
    print(f"{'':28s}" + "".join(f"{n:>18s}" for n in names) + f"{'ratio':>8s}")
    rows = [("stats", k) for k in ("load_s", "analysis_s", "cpu_s", *_COUNTERS)]
    for section, key in rows:
        vals = [cases[n][section].get(key, float("nan")) for n in names]
        ratio = vals[0] / vals[-1] if vals[-1] else float("nan")
        print(f"{key:28s}" + "".join(f"{v:18.2f}" for v in vals) + f"{ratio:8.2f}")
    per_ns = [cases[n]["stats"]["cpu_s"] / cases[n]["stats"]["simulated_ns"] for n in names]
    print(f"{'CPU s per simulated ns':28s}" + "".join(f"{v:18.2f}" for v in per_ns) + f"{per_ns[0] / per_ns[-1]:8.2f}")
    for key in ("result", "expected", "latency_s", "energy_J"):
        vals = [cases[n]["measured"][key] for n in names]
        print(f"{key:28s}" + "".join(f"{v:18.6g}" for v in vals) + f"{vals[0] / vals[-1] if vals[-1] else float('nan'):8.4f}")


def _round(args, tmp: str, reverse: bool = False) -> dict[str, dict]:
    """Every selected case once, each in a fresh process; ``reverse``: last case first (the rounds
    alternate, so that no case always runs first)."""
    cases = {}
    if args.reference_commit:
        tree = Path(tmp) / "reference"
        if not tree.exists():
            subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(tree),
                            args.reference_commit], check=True)
        cases[f"commit {args.reference_commit[:10]}"] = (tree, True, False)
    if args.cases == "all" or not args.reference_commit:
        cases["whole library"] = (ROOT, True, False)
    if args.cases == "all":
        cases["subset + edits"] = (ROOT, False, False)
    cases["+ hoisted models"] = (ROOT, False, True)
    order = list(reversed(cases)) if reverse else list(cases)
    done = {name: _run_case(args.path, *cases[name]) for name in order}
    return {name: done[name] for name in cases}


def _summary(rounds: list[dict[str, dict]]) -> None:
    """CPU per simulated ns of every round, the medians and the ratio of the first case to the last."""
    names = list(rounds[0])
    per_ns = {n: [r[n]["stats"]["cpu_s"] / r[n]["stats"]["simulated_ns"] for r in rounds] for n in names}
    ratios = [a / b for a, b in zip(per_ns[names[0]], per_ns[names[-1]])]
    print(f"\nCPU s per simulated ns over {len(rounds)} rounds (cases interleaved, each in a fresh process)")
    for n in names:
        print(f"{n:28s}" + "".join(f"{v:8.2f}" for v in per_ns[n]) + f"   median {statistics.median(per_ns[n]):.2f}")
    print(f"{'ratio first / last':28s}" + "".join(f"{v:8.2f}" for v in ratios)
          + f"   median {statistics.median(ratios):.2f}; ratio of medians "
          f"{statistics.median(per_ns[names[0]]) / statistics.median(per_ns[names[-1]]):.2f}")
    for n in names:  # the simulator is deterministic: every round must measure the same
        if len({json.dumps(r[n]["measured"], sort_keys=True) for r in rounds}) != 1:
            print(f"warning: {n}: the measured results differ between rounds")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--path", choices=("rram", "register"), default="rram")
    ap.add_argument("--reference-commit", metavar="REF", help="also run the code of this commit (git worktree)")
    ap.add_argument("--cases", choices=("all", "ends"), default="all",
                    help="ends: only the reference (or the whole library) and the hoisted deck")
    ap.add_argument("--repeat", type=int, default=1, metavar="N", help="rounds of all cases, interleaved")
    ap.add_argument("--child", metavar="PATH", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        _child(args.child)
        return
    if args.repeat < 1:
        ap.error(f"--repeat: {args.repeat} is not a positive number of rounds")
    rounds = []
    with tempfile.TemporaryDirectory() as tmp:
        try:
            for k in range(args.repeat):
                rounds.append(_round(args, tmp, reverse=k % 2 == 1))
                print(f"round {k + 1} of {args.repeat}:", flush=True)
                _print(rounds[-1])
        finally:
            if len(rounds) > 1:  # also when a later round failed: the rounds that finished
                _summary(rounds)
            if args.reference_commit:
                subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(Path(tmp) / "reference")],
                               check=False)
                subprocess.run(["git", "-C", str(ROOT), "worktree", "prune"], check=False)


if __name__ == "__main__":
    main()
