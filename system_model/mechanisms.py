"""The mechanisms behind every BDP: what each binary layer's GEMM does to the pipeline, the branch
predictor and the caches, in both runs, and what that costs in cycles.

For each binary layer and each run (baseline; BDPE with the profile fill's ``m`` words in RRAM)
:func:`layer_counts` gives

* iterations of the word loop by kind: baseline (software XNOR + NEON popcount), BDPE hit (CHK
  served from RRAM), BDPE miss (CHK, ``ldr`` + DPM);
* the level (L1D, L2, DRAM) that served every load and store, from the exact LRU simulation of the
  loop nest's address streams (:mod:`system_model.cache`, :mod:`system_model.loopnest`);
* the mispredictions of every branch (:mod:`system_model.branch`, gem5's TournamentBP).

:func:`price` turns one run's counts into cycles by cause, with a latency table (cycles):

* ``issue``: the in-order dual-issue scoreboard cycles of the instruction sequences with 1-cycle
  loads (dependencies, issue width, one load and one SIMD op per cycle);
* ``load_l1``: what the L1D load-to-use latency (``load``) adds to the scoreboard cycles;
* ``load_l2`` / ``load_dram``: a load served by L2 / DRAM stalls the in-order pipeline for
  ``l2 - load`` / ``dram - load`` more cycles; the baseline's two loads are issued back to back,
  so their stalls overlap (the longer counts), the BDPE miss path loads the kernel word only after
  the CHK test, so its stall adds to the input load's; stores retire into the store buffer;
* ``mispredict``: mispredictions times the in-order pipeline's refill penalty (``mispredict``).

A removed load therefore saves what its level would have cost, a mispredicted CHK costs the
refill, and the serialised miss path costs its second load-to-use latency.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .branch import DARKNET_LAYOUT, GEM5_TOURNAMENT, KINDS, CodeLayout, TournamentConfig, layer_mispredictions
from .cache import BASE, HIT, MISS, N_COUNTERS, PAPER_MEMORY, STORE, WB_L1, WB_L2, MemoryHierarchy, layer_memory
from .loopnest import DARKNET_NEST, LoopNest, geometry

__all__ = ["Fidelity", "RunCounts", "layer_counts", "price", "memory_tally", "CAUSES", "KINDS"]

CAUSES = ("issue", "load_l1", "load_l2", "load_dram", "mispredict")


@dataclass(frozen=True)
class Fidelity:
    """The documented model choices behind the mechanisms (see each module)."""

    loop_nest: LoopNest = DARKNET_NEST
    memory: MemoryHierarchy = PAPER_MEMORY
    predictor: TournamentConfig = GEM5_TOURNAMENT
    layout: CodeLayout = DARKNET_LAYOUT

    def describe(self) -> dict:
        p, n, mem = self.predictor, self.loop_nest, self.memory
        return {
            "loop_nest": {"order": n.order, "innermost": "word (the reduction of one dot product)",
                          "row_align_bits": n.row_align_bits, "sample_accesses": n.sample_accesses,
                          "fill_within_layer": "filter-major prefix (ties broken by first use)"},
            "branch_predictor": {"type": "gem5 TournamentBP (MinorCPU default)",
                                 "local_history_table": p.local_history_table_size,
                                 "local_history_bits": p.local_history_bits,
                                 "local_counters": p.local_predictor_size, "global_counters": p.global_predictor_size,
                                 "global_history_bits": p.global_history_bits,
                                 "choice_counters": p.choice_predictor_size, "counter_bits": p.local_ctr_bits,
                                 "chk_taken_on_hit": self.layout.chk_taken_on_hit},
            "caches": {"l1d": f"{mem.l1d.size_bytes // 1024} KiB {mem.l1d.ways}-way {mem.l1d.line_bytes} B lines",
                       "l2": f"{mem.l2.size_bytes // 1024} KiB {mem.l2.ways}-way", "policy": "LRU, write-back, "
                       "write-allocate; exact simulation of the GEMM's input, kernel and output streams"},
        }


@dataclass(frozen=True)
class RunCounts:
    """One run of one layer: word-loop iterations by kind, memory counters
    (:mod:`system_model.cache` layout) and their error bound, mispredictions per branch kind."""

    iterations: dict
    memory: np.ndarray
    memory_bound: np.ndarray = field(default_factory=lambda: np.zeros(N_COUNTERS))
    mispredictions: np.ndarray = field(default_factory=lambda: np.zeros(len(KINDS)))


def _simulate(geom, m: int, bdpe: bool, fid: Fidelity):
    if bdpe and m == 0:  # no word in RRAM: the baseline's address stream, every iteration a miss
        mem, bound = layer_memory(geom, 0, False, fid.loop_nest, fid.memory)
        mem = mem.copy()
        mem[MISS:MISS + 9], mem[BASE:BASE + 9] = mem[BASE:BASE + 9], 0.0
    else:
        mem, bound = layer_memory(geom, m, bdpe, fid.loop_nest, fid.memory)
    mp = layer_mispredictions(geom, m, bdpe, fid.loop_nest, fid.layout, fid.predictor)
    return mem, bound, mp.astype(np.float64)


def layer_counts(shape, m: float, fid: Fidelity) -> tuple[RunCounts, RunCounts] | None:
    """(baseline, BDPE) counts of a binary layer with ``m`` of its kernel words in RRAM (a
    fractional ``m`` under a forced usage rate interpolates the two neighbouring fills); None for
    a layer without BDPs."""
    geom = geometry(shape)
    if geom is None:
        return None
    m = min(max(m, 0.0), geom.filters * geom.words)
    hits = m * geom.pixels
    base_mem, base_bound, base_mp = _simulate(geom, 0, False, fid)
    lo = math.floor(m)
    frac = m - lo
    parts = [(1.0 - frac, _simulate(geom, lo, True, fid))] + ([(frac, _simulate(geom, lo + 1, True, fid))] if frac else [])
    mem = sum(w * p[0] for w, p in parts)
    bound = sum(w * p[1] for w, p in parts)
    mp = sum(w * p[2] for w, p in parts)
    baseline = RunCounts({"baseline": float(geom.bdps), "hit": 0.0, "miss": 0.0}, base_mem, base_bound, base_mp)
    bdpe = RunCounts({"baseline": 0.0, "hit": hits, "miss": geom.bdps - hits}, mem, bound, mp)
    return baseline, bdpe


def _stall_levels(lat: dict) -> np.ndarray:
    """Extra stall of a load served by L1, L2, DRAM beyond the L1 load-to-use latency."""
    return np.array([0.0, lat["l2"] - lat["load"], lat["dram"] - lat["load"]])


def price(run: RunCounts, seq: dict, lat: dict) -> dict:
    """Cycles by cause (``CAUSES``) of one run. ``seq[kind] = (cycles, cycles with 1-cycle loads)``
    per iteration of the scoreboard; ``lat`` holds ``load``, ``l2``, ``dram``, ``mispredict``."""
    it = run.iterations
    full = sum(it[k] * seq[k][0] for k in it)
    issue = sum(it[k] * seq[k][1] for k in it)
    e = _stall_levels(lat)
    mem = run.memory
    stall = np.zeros(3)
    joint_b = mem[BASE:BASE + 9].reshape(3, 3)
    joint_m = mem[MISS:MISS + 9].reshape(3, 3)
    for a in range(3):
        stall[a] += mem[HIT + a] * e[a] + joint_m[a].sum() * e[a]
        stall[a] += joint_m[:, a].sum() * e[a]
        for b in range(3):
            stall[max(a, b)] += joint_b[a, b] * max(e[a], e[b])
    return {"issue": issue, "load_l1": full - issue, "load_l2": stall[1], "load_dram": stall[2],
            "mispredict": float(run.mispredictions.sum()) * lat["mispredict"]}


def memory_tally(run: RunCounts) -> dict:
    """Accesses by level of one run: L1D reads and read misses, L2 read hits, DRAM reads (loads and
    the fills of store misses), L1D write misses, writebacks, DRAM writes, and the error bound on
    the L1D read misses (0 unless the layer was sampled)."""
    mem, bound = run.memory, run.memory_bound
    joint_b = mem[BASE:BASE + 9].reshape(3, 3)
    joint_m = mem[MISS:MISS + 9].reshape(3, 3)
    by_level = joint_b.sum(0) + joint_b.sum(1) + joint_m.sum(0) + joint_m.sum(1) + mem[HIT:HIT + 3]
    b = bound[BASE:BASE + 9].reshape(3, 3)
    bm = bound[MISS:MISS + 9].reshape(3, 3)
    miss_bound = (b.sum(0) + b.sum(1) + bm.sum(0) + bm.sum(1) + bound[HIT:HIT + 3])[1:].sum()
    return {"l1d_reads": float(by_level.sum()), "l1d_read_misses": float(by_level[1:].sum()),
            "l2_read_hits": float(by_level[1]), "dram_reads": float(by_level[2] + mem[STORE + 2]),
            "l1d_write_misses": float(mem[STORE + 1:STORE + 3].sum()), "l1_writebacks": float(mem[WB_L1]),
            "dram_writes": float(mem[WB_L2]), "l1d_read_misses_bound": float(miss_bound)}
