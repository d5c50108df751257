"""CPU + BDPE platform model and the per-layer cost tally (baseline vs BDPE).

What is derived and what is fitted
----------------------------------
* Derived: per-BDP instruction sequences of the baseline (software XNOR + NEON popcount) and of the
  BDPE (CHK; on a miss a load + DPM), hence instructions, L1D reads and SIMD ops per BDP exactly;
  the cycles of each sequence from an in-order dual-issue scoreboard with the latencies below; and
  the mechanisms behind every BDP (:mod:`system_model.mechanisms`): the loop nest of Darknet's
  packed binary GEMM (:mod:`system_model.loopnest`), the hit/miss sequence of the CHK branch under
  the profile fill and gem5's tournament branch predictor on it (:mod:`system_model.branch`), and
  the level (L1D, L2, DRAM) serving every load and store of the GEMM from an exact LRU simulation of
  the paper's caches (:mod:`system_model.cache`). A removed load saves what its level would have
  cost; mispredictions cost the pipeline refill.
* Fitted, to the published *baseline* run only (yolov3-tiny on paper-a53): everything that is not a
  binary dot product ("rest": full-precision layers, packing, batch-norm/sign, pooling, their memory
  stalls, program setup), as the published statistic minus the derived BDP part (cycles, idle
  cycles, instructions, L1D reads and read misses, DRAM reads and writes, SIMD ops), proportional to
  a work measure (full-precision MACs + layer output elements; program setup to the number of
  weights). The BDPE run is then a prediction.

Latency assumptions (cycles until a dependent instruction may issue), A53-class in-order core:
integer ALU 1 (forwarded), L1D load-to-use 3, GPR->SIMD move 3, NEON ``cnt`` 3, ``addv`` 4,
SIMD->GPR move 3, the BDPE instructions ``ceil(latency * f_clk)`` (1 with the published 28 nm
DotP numbers at 2 GHz); load-to-use from L2 27 (L1 lookup 2 + crossbar 1 + L2 20 + crossbar 1 + L1
fill 2 + LSQ 1), from DRAM 125 (DDR4-2400 row hit: controller front/back end 10 + 10 ns, tCL
14.2 ns, burst 3.3 ns, plus the L2 miss path: ~62 ns); branch misprediction 7 (MinorCPU: execute
branch delay 1, Fetch1 I-cache hit 2, Fetch1->Fetch2->Decode->Execute 3 stages, issue 1).
Uncertain latencies carry a documented range (``Platform.latency_range_cycles``: the envelope of
LLVM's Cortex-A53 and Cortex-A55 scheduling models and gem5 MinorCPU's default functional units);
:func:`evaluate` reports every gain with its range over them (``uncertainty``).
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

from .loopnest import filled_words
from .mechanisms import CAUSES, KINDS, Fidelity, layer_counts, memory_tally, price
from .networks import Network

__all__ = ["Platform", "BDPEConfig", "get_platform", "available_platforms", "evaluate", "EvaluationResult",
           "sequences", "scoreboard_cycles", "profile_fill", "PUBLISHED_DOTP", "bdpe_config_from_tables"]

# ------------------------------------------------------------------------------------------------
# Instruction sequences of one BDP (one iteration of the innermost word loop)
# (mnemonic, destination, sources, latency class)

_BASE = [
    ("ldr", "a", ("pa",), "load"),          # input word
    ("ldr", "b", ("pb",), "load"),          # kernel word  <- replaced by the BDPE
    ("add", "pa", ("pa",), "alu"),
    ("add", "pb", ("pb",), "alu"),
    ("eon", "c", ("a", "b"), "alu"),        # XNOR         <- replaced
    ("fmov", "v", ("c",), "g2s"),           # to NEON      <- replaced
    ("cnt", "v", ("v",), "cnt"),            # popcount     <- replaced
    ("addv", "v", ("v",), "addv"),          # byte sum     <- replaced
    ("fmov", "d", ("v",), "s2g"),           # back to GPR  <- replaced
    ("add", "acc", ("acc", "d"), "alu"),
    ("subs", "k", ("k",), "alu"),
    ("b.ne", None, ("k",), "branch"),
]
_HIT = [
    ("ldr", "a", ("pa",), "load"),
    ("add", "pa", ("pa",), "alu"),
    ("chk", "c", ("a", "pb"), "chk"),       # popcount(~(a ^ rram[pb])) or pb on a miss
    ("cmp", "f", ("c", "pb"), "alu"),       # result == address -> miss
    ("b.eq", None, ("f",), "branch"),
    ("add", "pb", ("pb",), "alu"),
    ("add", "acc", ("acc", "c"), "alu"),
    ("subs", "k", ("k",), "alu"),
    ("b.ne", None, ("k",), "branch"),
]
_MISS = _HIT[:5] + [
    ("ldr", "b", ("pb",), "load"),          # kernel word from memory
    ("dpm", "c", ("a", "b"), "dpm"),        # register-operand XNOR + popcount
] + _HIT[5:]


_POINTERS = ("pa", "pb", "k")  # registers shared by the copies of an unrolled body
_LOOP = 2                     # the last two instructions of every sequence: subs k; b.ne (loop control)


def _unrolled(seq: list, unroll: int) -> list:
    """``unroll`` BDPs per iteration of the word loop, as a compiler schedules independent chains
    on an in-order core: the copies' instructions interleaved position by position (ldr a0, ldr a1,
    chk c0, chk c1, cmp f0, cmp f1, ...), every data register renamed per copy (separate
    accumulators, summed after the loop), the pointer increments and the loop control once."""
    if unroll == 1:
        return list(seq)
    body = [x for x in seq[:-_LOOP] if not (x[0] == "add" and x[1] in _POINTERS)]
    bumps = [x for x in seq[:-_LOOP] if x[0] == "add" and x[1] in _POINTERS]

    def rename(reg, j):
        return reg if reg is None or reg in _POINTERS else f"{reg}{j}"

    out = []
    for pos in range(len(body)):
        for j in range(unroll):
            name, dst, srcs, cls = body[pos]
            out.append((name, rename(dst, j), tuple(rename(r, j) for r in srcs), cls))
    return out + bumps + list(seq[-_LOOP:])


def sequences(unroll: int = 1) -> dict[str, list]:
    """The word loop's instructions per iteration (``unroll`` BDPs of one kind each: baseline,
    hit, miss). ``unroll`` 1 is Darknet's loop, the one the published runs executed."""
    if unroll not in (1, 2, 4):
        raise ValueError(f"unroll {unroll}: must be 1, 2 or 4")
    return {"baseline": _unrolled(_BASE, unroll), "hit": _unrolled(_HIT, unroll), "miss": _unrolled(_MISS, unroll)}


def scoreboard_cycles(seq, latency: dict, issue_width: int = 2, iterations: int = 400,
                      intervals: dict | None = None) -> float:
    """Steady-state cycles per iteration of ``seq`` on an in-order scoreboard machine.

    In order, up to ``issue_width`` instructions per cycle, one load/store and one SIMD op per
    cycle; an instruction issues when its sources are ready (producer issue + latency).
    ``intervals``: latency class -> (unit, initiation interval): an instruction of that class
    issues no sooner than the interval after the previous instruction on the same unit (the BDPE:
    ``chk`` and ``dpm`` share one engine; unpipelined, the interval is its latency). Classes not
    named issue every cycle (pipelined units).
    """
    intervals = intervals or {}
    ready: dict[str, int] = {}
    free: dict[str, int] = {}
    cycle, used, loads, simd = 0, 0, 0, 0
    start = 0
    for it in range(iterations):
        if it == iterations // 2:
            start = cycle
        for _name, dst, srcs, cls in seq:
            unit, interval = intervals.get(cls, (None, 1))
            earliest = max([cycle, free.get(unit, 0)] + [ready.get(s, 0) for s in srcs])
            if earliest > cycle:
                cycle, used, loads, simd = earliest, 0, 0, 0
            is_load = cls == "load"
            is_simd = cls in ("g2s", "cnt", "addv", "s2g")
            if used >= issue_width or (is_load and loads) or (is_simd and simd):
                cycle, used, loads, simd = cycle + 1, 0, 0, 0
            used += 1
            loads += is_load
            simd += is_simd
            if unit is not None:
                free[unit] = cycle + interval
            if dst is not None:
                ready[dst] = cycle + latency[cls]
    return (cycle - start) / (iterations - iterations // 2)


# ------------------------------------------------------------------------------------------------
# Platform


@dataclass(frozen=True)
class BaselineRun:
    """Published gem5 statistics of the baseline run (the only data the model is fitted to)."""

    network: str
    inference_time_s: float
    cycles: int
    instructions: int
    l1d_reads: int
    idle_cycles: int
    simd_ops: int
    l1d_misses: int
    dram_reads: int
    dram_writes: int
    energy_J: float


@dataclass(frozen=True)
class Platform:
    name: str
    description: str
    f_clk_Hz: float
    issue_width: int
    latency_cycles: dict
    e_active_J: float       # per active cycle
    e_idle_J: float         # per idle (wait-for-memory) cycle
    e_static_J: float       # per cycle, every cycle
    e_llc_read_J: float
    e_llc_write_J: float
    e_dram_J: float         # per DRAM read or write
    baseline_run: BaselineRun
    latency_range_cycles: dict = field(default_factory=dict)  # uncertain latencies: name -> (low, high)
    fidelity: Fidelity = Fidelity()                            # loop nest, caches, branch predictor
    unroll: int = 1  # BDPs per iteration of the word loop (1: Darknet's loop, the published runs')

    def sequence_cycles(self, chk_cycles: int = 1, dpm_cycles: int = 1) -> dict[str, float]:
        lat = dict(self.latency_cycles, chk=chk_cycles, dpm=dpm_cycles)
        return {name: scoreboard_cycles(seq, lat, self.issue_width) for name, seq in sequences().items()}


PAPER_BASELINE = BaselineRun(
    network="yolov3-tiny", inference_time_s=1.917167, cycles=6_314_899_785, instructions=3_181_766_342,
    l1d_reads=400_538_339, idle_cycles=2_254_620_569, simd_ops=45_389_985, l1d_misses=22_680_000,
    dram_reads=18_030_000, dram_writes=10_390_000, energy_J=0.54242)

_PLATFORMS = {
    "paper-a53": Platform(
        name="paper-a53",
        description="gem5 MinorCPU-class in-order ARMv8 at 2 GHz, 32 KiB L1I/L1D, 1 MiB L2, DDR4-2400; "
                    "A53-class 28 nm energy per cycle (Vieira et al. 2019)",
        f_clk_Hz=2e9, issue_width=2,
        latency_cycles={"alu": 1, "load": 3, "g2s": 3, "cnt": 3, "addv": 4, "s2g": 3, "branch": 1,
                        "l2": 27, "dram": 125, "mispredict": 7},
        # ranges: the envelope of LLVM's Cortex-A53 and Cortex-A55 scheduling models and gem5
        # MinorCPU's default FUs (SIMD ops 6 cycles with operands read 2 in: 4 between dependent
        # SIMD ops, 4 from SIMD to integer): load 3 (A53 with bypass, A55) .. 5 (A55 "some 4 or 5");
        # FMOV GPR<->SIMD 3 (A55) .. 6 (A53); CNT 3 .. 4 (A55, Minor; A53's unmeasured default of 6
        # for unlisted NEON ops is not taken); ADDV 3 (A53, A55) .. 4 (Minor); misprediction 6
        # (Minor with a 1-cycle I-cache response) .. 9 (A53); L2 parallel (24) or sequential tag +
        # data (44); DRAM row hit (110) .. row conflict (180)
        latency_range_cycles={"load": (3, 5), "g2s": (3, 6), "cnt": (3, 4), "addv": (3, 4), "s2g": (3, 6),
                              "mispredict": (6, 9), "l2": (24, 44), "dram": (110, 180)},
        e_active_J=89.68e-12, e_idle_J=67.79e-12, e_static_J=4.018e-12,
        e_llc_read_J=2.76e-12, e_llc_write_J=2.49e-12, e_dram_J=173349.8e-12,
        baseline_run=PAPER_BASELINE),
}


def available_platforms() -> list[str]:
    return sorted(_PLATFORMS)


def get_platform(name: str) -> Platform:
    try:
        return _PLATFORMS[name]
    except KeyError:
        raise ValueError(f"platform {name!r} is not built in ({', '.join(available_platforms())})") from None


# ------------------------------------------------------------------------------------------------
# BDPE configuration


@dataclass(frozen=True)
class BDPEConfig:
    """The engine: RRAM capacity (64-bit words) or a forced usage rate, op latencies and energies."""

    rram_words: int | None = 128
    rram_usage: float | None = None
    rram_latency_s: float = 408e-12      # CHK hit path (read stored row, XNOR, popcount)
    register_latency_s: float = 214e-12  # DPM path (two register operands)
    rram_energy_J: float = 0.50592e-12
    register_energy_J: float = 0.69122e-12
    source: str = "published 28 nm FDSOI DotP unit (Vieira et al. 2019)"
    latency_cycles_override: int | None = None
    # pipelined engine: a register between sensing (or the register operands' XNOR) and the popcount
    pipelined: bool = False
    popcount_latency_s: float | None = None  # the popcount's share of both paths (None: half the register path)
    register_overhead_s: float = 0.0          # clock-to-q + setup of the pipeline register

    def cycles(self, f_clk_Hz: float) -> tuple[int, int]:
        """Latency in cycles of (CHK, DPM): until a dependent instruction may issue."""
        return tuple(lat for lat, _ in self.timing(f_clk_Hz))

    def intervals(self, f_clk_Hz: float) -> tuple[int, int]:
        """Initiation interval in cycles of (CHK, DPM): the engine takes a new operation this often."""
        return tuple(ii for _, ii in self.timing(f_clk_Hz))

    def timing(self, f_clk_Hz: float) -> tuple[tuple[int, int], tuple[int, int]]:
        """((latency, interval) of CHK, (latency, interval) of DPM) in cycles. Unpipelined: the
        interval is the latency (the engine is busy until its result is out). Pipelined: two
        stages, the popcount after the register and the rest before it; each stage gets
        ``ceil((max stage + register overhead) * f)`` cycles, the interval, and the latency is two
        of them (with the published 28 nm numbers at 2 GHz: interval 1, latency 2)."""
        if self.latency_cycles_override is not None:
            n = self.latency_cycles_override
            return ((2 * n, n), (2 * n, n)) if self.pipelined else ((n, n), (n, n))
        out = []
        pop = self.register_latency_s / 2 if self.popcount_latency_s is None else self.popcount_latency_s
        for latency in (self.rram_latency_s, self.register_latency_s):
            if not self.pipelined:
                n = max(1, math.ceil(latency * f_clk_Hz - 1e-9))
                out.append((n, n))
                continue
            second = min(pop, latency)
            stage = max(latency - second, second) + self.register_overhead_s
            n = max(1, math.ceil(stage * f_clk_Hz - 1e-9))
            out.append((2 * n, n))
        return tuple(out)


PUBLISHED_DOTP = BDPEConfig()


def profile_fill(net: Network, rram_words: int | None = None, rram_usage: float | None = None) -> dict[int, float]:
    """Static, profile-driven fill: most-used kernel words first.  Returns hits (BDPs served from
    RRAM) per layer index.  With ``rram_usage`` the fill stops when that fraction of all BDPs hits
    (a hypothetical capacity; the last word may count fractionally)."""
    usage = sorted(net.word_usage(), key=lambda u: (-u[0], u[2]))
    total = sum(uses * words for uses, words, _ in usage)
    hits: dict[int, float] = {}
    if rram_usage is not None:
        budget = rram_usage * total
        for uses, words, idx in usage:
            take = min(words * uses, budget)
            hits[idx] = take
            budget -= take
            if budget <= 0:
                break
        return hits
    capacity = rram_words or 0
    for uses, words, idx in usage:
        take = min(words, capacity)
        if take:
            hits[idx] = take * uses
        capacity -= take
        if capacity <= 0:
            break
    return hits


# ------------------------------------------------------------------------------------------------
# Evaluation


@dataclass
class EvaluationResult:
    network: str
    platform: str
    bdp_ops: int
    kernel_words: int
    rram_words: int | None
    bdpe_usage: float
    baseline: dict
    bdpe: dict
    gain: dict
    layers: list
    bdpe_config: dict
    model: dict
    latency_sweep: list = field(default_factory=list)
    uncertainty: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "network": self.network, "platform": self.platform, "bdp_ops": self.bdp_ops,
            "kernel_words": self.kernel_words, "rram_words": self.rram_words, "bdpe_usage": self.bdpe_usage,
            "baseline": self.baseline, "bdpe": self.bdpe, "gain": self.gain, "layers": self.layers,
            "bdpe_config": self.bdpe_config, "model": self.model, "latency_sweep": self.latency_sweep,
            "uncertainty": self.uncertainty,
        }


def _rest_work(net: Network) -> tuple[float, float]:
    """Work measures of the non-BDP part: (inference units, parameter count)."""
    units = 0.0
    params = 0.0
    for s in net.shapes():
        units += s.float_macs + s.out_elements
        if s.layer.kind in ("conv", "dense"):
            params += s.filters * s.bits_per_filter
    return units, params


@dataclass(frozen=True)
class _Calibration:
    rest_cycles_per_unit: float
    setup_cycles_per_param: float
    idle_fraction_of_rest: float
    instructions_per_rest_cycle: float
    l1d_reads_per_rest_cycle: float
    l1d_misses_per_rest_cycle: float
    dram_reads_per_rest_cycle: float
    dram_writes_per_rest_cycle: float
    other_simd_per_rest_cycle: float


@functools.lru_cache(maxsize=4096)
def _scoreboard_table(lat_items: tuple, issue_width: int, unroll: int = 1, interval_items: tuple = ()) -> dict:
    """Cycles per BDP of each sequence: (with the latencies, with 1-cycle loads)."""
    lat = dict(lat_items)
    one = dict(lat, load=1)
    iv = dict(interval_items)
    return {name: (scoreboard_cycles(seq, lat, issue_width, 48, iv) / unroll,
                   scoreboard_cycles(seq, one, issue_width, 48, iv) / unroll)
            for name, seq in sequences(unroll).items()}  # 48 iterations: the same steady state as 400 (tested)


def _seq_cycles(platform: Platform, lat: dict, chk: int, dpm: int, unroll: int = 1,
                intervals: tuple[int, int] | None = None) -> dict:
    """Per-BDP cycles of each sequence with the BDPE at (chk, dpm) cycles of latency and the given
    initiation intervals (default: unpipelined, interval = latency)."""
    ii_chk, ii_dpm = (chk, dpm) if intervals is None else intervals
    return _scoreboard_table(tuple(sorted(dict(lat, chk=chk, dpm=dpm).items())), platform.issue_width, unroll,
                             (("chk", ("bdpe", ii_chk)), ("dpm", ("bdpe", ii_dpm))))


def _network_counts(net: Network, platform: Platform, hits_by_layer: dict) -> dict:
    """Mechanism counts (baseline, BDPE) of every binary layer under the fill."""
    words = filled_words(net, hits_by_layer)
    counts = {}
    for s in net.shapes():
        c = layer_counts(s, words.get(s.index, 0.0), platform.fidelity)
        if c is not None:
            counts[s.index] = c
    return counts


def _integral(x: float):
    return int(x) if float(x).is_integer() else x


def _bdp_run(counts, seq: dict, lat: dict, n_insts: dict, n_loads: dict) -> dict:
    """One run of one layer's BDP part: cycles by cause, instructions, memory accesses by level,
    mispredictions by branch (zeros without counts)."""
    if counts is None:
        return {"bdp_cycles": 0.0, "cycles_by_cause": dict.fromkeys(CAUSES, 0.0), "idle_cycles": 0.0,
                "instructions": 0, "l1d_reads": 0, "memory": {}, "mispredictions": dict.fromkeys(KINDS, 0.0)}
    cyc = price(counts, seq, lat)
    it = counts.iterations
    return {"bdp_cycles": sum(cyc.values()), "cycles_by_cause": cyc, "idle_cycles": cyc["load_l2"] + cyc["load_dram"],
            "instructions": _integral(sum(it[k] * n_insts[k] for k in it)),
            "l1d_reads": _integral(sum(it[k] * n_loads[k] for k in it)), "memory": memory_tally(counts),
            "mispredictions": dict(zip(KINDS, map(float, counts.mispredictions)))}


def _sum_runs(runs: list) -> dict:
    """The BDP part of a run over all layers (sums of :func:`_bdp_run`)."""
    total = {"bdp_cycles": 0.0, "idle_cycles": 0.0, "instructions": 0, "l1d_reads": 0,
             "cycles_by_cause": dict.fromkeys(CAUSES, 0.0), "mispredictions": dict.fromkeys(KINDS, 0.0), "memory": {}}
    for r in runs:
        for key in ("bdp_cycles", "idle_cycles", "instructions", "l1d_reads"):
            total[key] += r[key]
        for group in ("cycles_by_cause", "mispredictions", "memory"):
            for key, value in r[group].items():
                total[group][key] = total[group].get(key, 0.0) + value
    return total


def _calibrate(platform: Platform, lat: dict | None = None) -> _Calibration:
    """Fit the rest-of-program rates to the published baseline run (and to nothing else): each
    published statistic minus the derived BDP part of that run."""
    from .networks import get_network

    lat = dict(platform.latency_cycles) if lat is None else lat
    run = platform.baseline_run
    net = get_network(run.network)
    n_insts, n_loads = _sequence_counts()
    seq = _seq_cycles(platform, lat, 1, 1)
    bdp = _sum_runs([_bdp_run(c[0], seq, lat, n_insts, n_loads) for c in _network_counts(net, platform, {}).values()])
    mem = bdp["memory"]
    inference_cycles = run.inference_time_s * platform.f_clk_Hz
    units, params = _rest_work(net)
    rest_all = run.cycles - bdp["bdp_cycles"]

    def per_rest(total: float, derived: float) -> float:
        return (total - derived) / rest_all

    return _Calibration(
        rest_cycles_per_unit=(inference_cycles - bdp["bdp_cycles"]) / units,
        setup_cycles_per_param=(run.cycles - inference_cycles) / params,
        idle_fraction_of_rest=per_rest(run.idle_cycles, bdp["idle_cycles"]),
        instructions_per_rest_cycle=per_rest(run.instructions, bdp["instructions"]),
        l1d_reads_per_rest_cycle=per_rest(run.l1d_reads, bdp["l1d_reads"]),
        l1d_misses_per_rest_cycle=per_rest(run.l1d_misses, mem["l1d_read_misses"]),
        dram_reads_per_rest_cycle=per_rest(run.dram_reads, mem["dram_reads"]),
        dram_writes_per_rest_cycle=per_rest(run.dram_writes, mem["dram_writes"]),
        other_simd_per_rest_cycle=per_rest(run.simd_ops, net.bdps()),
    )


def _totals(platform: Platform, cal: _Calibration, bdp: dict, bdp_simd: float, rest_inference_cycles: float,
            setup_cycles: float, bdpe_energy: float) -> dict:
    rest = rest_inference_cycles + setup_cycles
    inference_cycles = bdp["bdp_cycles"] + rest_inference_cycles
    cycles = inference_cycles + setup_cycles
    idle = bdp["idle_cycles"] + cal.idle_fraction_of_rest * rest
    active = cycles - idle
    mem = bdp["memory"]
    l1d_misses = mem.get("l1d_read_misses", 0.0) + cal.l1d_misses_per_rest_cycle * rest
    dram_reads = mem.get("dram_reads", 0.0) + cal.dram_reads_per_rest_cycle * rest
    dram_writes = mem.get("dram_writes", 0.0) + cal.dram_writes_per_rest_cycle * rest
    e_core_active = active * platform.e_active_J
    e_core_idle = idle * platform.e_idle_J
    e_static = cycles * platform.e_static_J
    e_llc = l1d_misses * platform.e_llc_read_J + dram_writes * platform.e_llc_write_J
    e_dram = (dram_reads + dram_writes) * platform.e_dram_J
    energy = e_core_active + e_core_idle + e_static + e_llc + bdpe_energy
    return {
        "time_s": inference_cycles / platform.f_clk_Hz,
        "cycles": cycles,
        "inference_cycles": inference_cycles,
        "idle_cycles": idle,
        "instructions": bdp["instructions"] + cal.instructions_per_rest_cycle * rest,
        "l1d_reads": bdp["l1d_reads"] + cal.l1d_reads_per_rest_cycle * rest,
        "l1d_read_misses": l1d_misses,
        "simd_ops": bdp_simd + cal.other_simd_per_rest_cycle * rest,
        "llc_reads": l1d_misses, "dram_reads": dram_reads, "dram_writes": dram_writes,
        "energy_J": energy,
        "energy_with_dram_J": energy + e_dram,
        "energy_breakdown_J": {"core_active": e_core_active, "core_idle": e_core_idle, "static": e_static,
                               "llc": e_llc, "bdpe": bdpe_energy, "dram": e_dram},
        "bdp": {"cycles": bdp["bdp_cycles"], "cycles_by_cause": bdp["cycles_by_cause"], "idle_cycles": bdp["idle_cycles"],
                "instructions": bdp["instructions"], "l1d_reads": bdp["l1d_reads"], "memory": mem,
                "mispredictions": bdp["mispredictions"]},
    }


def evaluate(net: Network, platform: Platform, bdpe: BDPEConfig | None = None, *,
             latency_sweep: tuple[int, ...] = (1, 2, 4, 8), uncertainty: bool = True) -> EvaluationResult:
    """Per-layer tally of baseline and BDPE runs of ``net`` on ``platform``.

    Keys (``to_dict()``): the contract keys ``network, platform, bdp_ops, kernel_words, rram_words,
    bdpe_usage, baseline{time_s, cycles, instructions, l1d_reads, energy_J, energy_with_dram_J},
    bdpe{...}, gain{performance, energy, mem_access_reduction_per_bdp}, layers[...]``, and, per run,
    the mechanisms: ``idle_cycles``, ``l1d_read_misses``, ``dram_reads``, ``dram_writes`` (whole
    program: derived BDP part + fitted rest) and ``bdp{cycles, cycles_by_cause{issue, load_l1,
    load_l2, load_dram, mispredict}, idle_cycles, instructions, l1d_reads, memory{l1d_reads,
    l1d_read_misses, l2_read_hits, dram_reads, l1d_write_misses, l1_writebacks, dram_writes,
    l1d_read_misses_bound}, mispredictions{chk, word_loop, middle_loop, outer_loop}}`` (the binary
    GEMM only); every layer's ``baseline``/``bdpe`` carries the same ``bdp_cycles``,
    ``cycles_by_cause``, ``idle_cycles``, ``memory`` and ``mispredictions``. ``uncertainty``: the
    gains and the BDPE-run time at the point latencies and their range over
    ``platform.latency_range_cycles`` (:func:`_uncertainty`); ``latency_sweep``: the gains with the
    BDPE op forced to N cycles; ``model``: sequence cycles, latencies, the fitted rates and the
    mechanisms' documented choices."""
    bdpe = bdpe or PUBLISHED_DOTP
    (chk_cycles, chk_ii), (dpm_cycles, dpm_ii) = bdpe.timing(platform.f_clk_Hz)
    intervals = (chk_ii, dpm_ii)
    hits_by_layer = profile_fill(net, bdpe.rram_words, bdpe.rram_usage)
    counts = _network_counts(net, platform, hits_by_layer)
    lat = dict(platform.latency_cycles)
    run = _run_model(net, platform, bdpe, hits_by_layer, counts, lat, chk_cycles, dpm_cycles, intervals)
    n, layers, cal = net.bdps(), run["layers"], run["cal"]
    result = EvaluationResult(
        network=net.name, platform=platform.name, bdp_ops=n, kernel_words=net.kernel_words(),
        rram_words=bdpe.rram_words if bdpe.rram_usage is None else None,
        bdpe_usage=sum(layer["rram_hits"] for layer in layers) / n if n else 0.0,
        baseline=run["baseline"], bdpe=run["bdpe"], gain=run["gain"], layers=layers,
        bdpe_config={"source": bdpe.source, "rram_latency_s": bdpe.rram_latency_s,
                     "register_latency_s": bdpe.register_latency_s, "rram_energy_J": bdpe.rram_energy_J,
                     "register_energy_J": bdpe.register_energy_J, "chk_cycles": chk_cycles, "dpm_cycles": dpm_cycles,
                     "pipelined": bdpe.pipelined, "chk_interval_cycles": chk_ii, "dpm_interval_cycles": dpm_ii},
        model={"sequence_cycles": {k: v[0] for k, v in run["seq"].items()},
               "sequence_issue_cycles": {k: v[1] for k, v in run["seq"].items()},
               "sequence_instructions": _sequence_counts(platform.unroll)[0], "unroll": platform.unroll,
               "latency_cycles": lat,
               "latency_range_cycles": {k: list(v) for k, v in platform.latency_range_cycles.items()},
               "fitted_to": f"baseline run of {platform.baseline_run.network}",
               "rest_cycles_per_unit": cal.rest_cycles_per_unit, "setup_cycles": run["setup"],
               "mechanisms": platform.fidelity.describe()},
    )
    for cycles in latency_sweep:  # the same evaluation with an unpipelined BDPE forced to N cycles
        gain = _run_model(net, platform, bdpe, hits_by_layer, counts, lat, cycles, cycles, (cycles, cycles))["gain"]
        result.latency_sweep.append({"bdpe_latency_cycles": cycles, "performance": gain["performance"],
                                     "energy": gain["energy"]})
    if uncertainty:
        result.uncertainty = _uncertainty(net, platform, bdpe, hits_by_layer, counts, chk_cycles, dpm_cycles, intervals)
    return result


def _run_model(net: Network, platform: Platform, bdpe: BDPEConfig, hits_by_layer: dict, counts: dict, lat: dict,
               chk: int, dpm: int, intervals: tuple[int, int] | None = None) -> dict:
    """Both runs of ``net`` at one latency table: layers, totals, gains (calibrated at that table,
    on the published program's loop: unroll 1; the runs use ``platform.unroll``)."""
    cal = _calibrate(platform, lat)
    seq = _seq_cycles(platform, lat, chk, dpm, platform.unroll, intervals)
    n_insts, n_loads = _sequence_counts(platform.unroll)
    layers = [_layer_costs(s, hits_by_layer.get(s.index, 0.0), counts.get(s.index), platform, cal, bdpe, seq, lat,
                           n_insts, n_loads) for s in net.shapes()]
    n = net.bdps()
    rest = 0.0
    for layer in layers:  # the totals are sums of the layers, nothing computed twice
        rest += layer["rest"]["cycles"]
    setup = _rest_work(net)[1] * cal.setup_cycles_per_param
    baseline = _totals(platform, cal, _sum_runs([x["baseline"] for x in layers]), n, rest, setup, 0.0)
    with_bdpe = _totals(platform, cal, _sum_runs([x["bdpe"] for x in layers]), 0.0, rest, setup,
                        sum(x["bdpe"]["bdpe_unit_energy_J"] for x in layers))
    for layer in layers:
        layer["rest_cycles"] = layer.pop("rest")["cycles"]
    return {"layers": layers, "baseline": baseline, "bdpe": with_bdpe, "gain": _gains(baseline, with_bdpe, n),
            "cal": cal, "seq": seq, "setup": setup}


def _uncertainty(net: Network, platform: Platform, bdpe: BDPEConfig, hits_by_layer: dict, counts: dict,
                 chk: int, dpm: int, intervals: tuple[int, int] | None = None) -> dict:
    """The gains and the BDPE-run time at the point latencies and their range over the uncertain
    latencies (``platform.latency_range_cycles``). Each latency is moved alone to both ends of its
    range (``one_at_a_time``); the range of a quantity is then taken at the two corners of the box
    where every latency sits at the end that lowers (raises) it on its own: the model is monotone in
    each latency (in-order dependency chains add latencies, stalls are counts times latencies)."""
    point, ranges = dict(platform.latency_cycles), platform.latency_range_cycles
    if not ranges:
        return {}

    def outcome(changes: dict) -> tuple[float, float, float]:
        r = _run_model(net, platform, bdpe, hits_by_layer, counts, dict(point, **changes), chk, dpm, intervals)
        return r["gain"]["performance"], r["gain"]["energy"], r["bdpe"]["time_s"]

    at_point = outcome({})
    effect = {name: (outcome({name: lo}), outcome({name: hi})) for name, (lo, hi) in ranges.items()}
    out = {"latencies": {name: list(r) for name, r in ranges.items()},
           "point_latencies": {name: point[name] for name in ranges}}
    for i, key in enumerate(("performance", "energy", "bdpe_time_s")):
        low_at = {name: (lo if effect[name][0][i] <= effect[name][1][i] else hi) for name, (lo, hi) in ranges.items()}
        high_at = {name: (hi if low_at[name] == lo else lo) for name, (lo, hi) in ranges.items()}
        values = [outcome(low_at)[i], outcome(high_at)[i], at_point[i]]
        out[key] = {"point": at_point[i], "low": min(values), "high": max(values), "low_at": low_at, "high_at": high_at,
                    "one_at_a_time": {name: [effect[name][0][i], effect[name][1][i]] for name in ranges}}
    return out


def _sequence_counts(unroll: int = 1) -> tuple[dict, dict]:
    """Instructions and loads per BDP of each sequence (baseline, hit, miss)."""
    seqs = sequences(unroll)
    return ({k: _integral(len(v) / unroll) for k, v in seqs.items()},
            {k: _integral(sum(1 for x in v if x[3] == "load") / unroll) for k, v in seqs.items()})


def _layer_costs(s, hits: float, counts, platform: Platform, cal: _Calibration, bdpe: BDPEConfig, seq: dict,
                 lat: dict, n_insts: dict, n_loads: dict) -> dict:
    """One layer's costs in both runs (a temporary ``rest`` entry holds the non-BDP cycles)."""
    rest_cycles = (s.float_macs + s.out_elements) * cal.rest_cycles_per_unit
    runs = {key: _bdp_run(c, seq, lat, n_insts, n_loads) for key, c in zip(("baseline", "bdpe"), counts or (None, None))}
    e_bdpe = hits * bdpe.rram_energy_J + (s.bdps - hits) * bdpe.register_energy_J
    # per-layer core energy: BDP cycles active except their memory stalls (idle), the rest with the
    # calibrated idle share; LLC and DRAM energy appear in the totals only
    f_idle = cal.idle_fraction_of_rest
    e_rest = rest_cycles * ((1 - f_idle) * platform.e_active_J + f_idle * platform.e_idle_J + platform.e_static_J)
    for key, r in runs.items():
        busy = r["bdp_cycles"] - r["idle_cycles"]
        r["cycles"] = r["bdp_cycles"] + rest_cycles
        r["energy_J"] = (busy * (platform.e_active_J + platform.e_static_J) + e_rest
                         + r["idle_cycles"] * (platform.e_idle_J + platform.e_static_J) + (e_bdpe if key == "bdpe" else 0.0))
    runs["bdpe"]["bdpe_unit_energy_J"] = e_bdpe
    return {
        "index": s.index, "name": s.name, "kind": s.layer.kind, "binary": s.binary,
        "in_shape": list(s.in_shape), "out_shape": list(s.out_shape),
        "words_per_filter": s.words_per_filter, "kernel_words": s.kernel_words,
        "bdps": s.bdps, "rram_hits": hits, "float_macs": s.float_macs,
        "baseline": runs["baseline"], "bdpe": runs["bdpe"], "rest": {"cycles": rest_cycles},
    }


def _gains(baseline: dict, with_bdpe: dict, n: int) -> dict:
    return {
        "performance": (baseline["time_s"] - with_bdpe["time_s"]) / baseline["time_s"],
        "energy": (baseline["energy_J"] - with_bdpe["energy_J"]) / baseline["energy_J"],
        "energy_with_dram": (baseline["energy_with_dram_J"] - with_bdpe["energy_with_dram_J"])
                            / baseline["energy_with_dram_J"],
        "mem_access_reduction_per_bdp": (baseline["l1d_reads"] - with_bdpe["l1d_reads"]) / n if n else 0.0,
        "mem_access_reduction_total": (baseline["l1d_reads"] - with_bdpe["l1d_reads"]) / baseline["l1d_reads"],
    }


def bdpe_config_from_tables(tables, *, corner: str = "tt", vdd: float = 1.8, temperature: float = 27.0,
                            rram_words: int | None = 128, rram_usage: float | None = None,
                            source: str = "") -> BDPEConfig:
    """A :class:`BDPEConfig` whose latencies and energies come from characterized tables.

    ``tables`` is anything with ``lookup(op, metric, **coords)`` (``characterize.open_tables``):
    this module never reads files itself. Operations ``bdpe_rram`` and ``bdpe_register``, metrics
    ``latency_s`` and ``energy_J``, at (corner, vdd, temperature).
    """
    coords = {"corner": corner, "vdd": vdd, "temperature": temperature}
    look = lambda op, metric: float(tables.lookup(op, metric, **coords))  # noqa: E731
    values = {"rram_latency_s": look("bdpe_rram", "latency_s"), "register_latency_s": look("bdpe_register", "latency_s"),
              "rram_energy_J": look("bdpe_rram", "energy_J"), "register_energy_J": look("bdpe_register", "energy_J")}
    for key, value in values.items():
        if not math.isfinite(value) or value <= 0:
            raise ValueError(f"tables: {key} at {coords} is {value} (a failed point?)")
    return BDPEConfig(rram_words=rram_words, rram_usage=rram_usage, source=source or
                      f"SKY130 transistor-level tables at {corner}/{vdd:g} V/{temperature:g} C", **values)
