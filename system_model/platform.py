"""CPU + BDPE platform model and the per-layer cost tally (baseline vs BDPE).

What is derived and what is fitted
----------------------------------
* Derived: per-BDP instruction sequences of the baseline (software XNOR + NEON popcount) and of the
  BDPE (CHK; on a miss a load + DPM), hence instructions, L1D reads and SIMD ops per BDP exactly;
  the cycles of each sequence from an in-order dual-issue scoreboard with the latencies below.
* Fitted, to the published *baseline* run only (yolov3-tiny on paper-a53): the cost of everything
  that is not a binary dot product ("rest": full-precision layers, packing, batch-norm/sign,
  pooling, memory stalls, program setup).  It is proportional to a work measure (full-precision
  MACs + layer output elements; program setup to the number of weights) with rates chosen so that
  the model reproduces the baseline statistics.  The BDPE run is then a prediction.

Latency assumptions (cycles until a dependent instruction may issue), A53-class in-order core:
integer ALU 1 (forwarded), L1D load-to-use 3, GPR->SIMD move 3, NEON ``cnt`` 3, ``addv`` 4,
SIMD->GPR move 3, the BDPE instructions ``ceil(latency * f_clk)`` (1 with the published 28 nm
DotP numbers at 2 GHz).  Branches are assumed predicted (hits and misses come in long runs per layer).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

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


def sequences() -> dict[str, list]:
    return {"baseline": list(_BASE), "hit": list(_HIT), "miss": list(_MISS)}


def scoreboard_cycles(seq, latency: dict, issue_width: int = 2, iterations: int = 400) -> float:
    """Steady-state cycles per iteration of ``seq`` on an in-order scoreboard machine.

    In order, up to ``issue_width`` instructions per cycle, one load/store and one SIMD op per
    cycle; an instruction issues when its sources are ready (producer issue + latency).
    """
    ready: dict[str, int] = {}
    cycle, used, loads, simd = 0, 0, 0, 0
    start = 0
    for it in range(iterations):
        if it == iterations // 2:
            start = cycle
        for _name, dst, srcs, cls in seq:
            earliest = max([cycle] + [ready.get(s, 0) for s in srcs])
            if earliest > cycle:
                cycle, used, loads, simd = earliest, 0, 0, 0
            is_load = cls == "load"
            is_simd = cls in ("g2s", "cnt", "addv", "s2g")
            if used >= issue_width or (is_load and loads) or (is_simd and simd):
                cycle, used, loads, simd = cycle + 1, 0, 0, 0
            used += 1
            loads += is_load
            simd += is_simd
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
        latency_cycles={"alu": 1, "load": 3, "g2s": 3, "cnt": 3, "addv": 4, "s2g": 3, "branch": 1},
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

    def cycles(self, f_clk_Hz: float) -> tuple[int, int]:
        if self.latency_cycles_override is not None:
            return self.latency_cycles_override, self.latency_cycles_override
        return (max(1, math.ceil(self.rram_latency_s * f_clk_Hz - 1e-9)),
                max(1, math.ceil(self.register_latency_s * f_clk_Hz - 1e-9)))


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

    def to_dict(self) -> dict:
        return {
            "network": self.network, "platform": self.platform, "bdp_ops": self.bdp_ops,
            "kernel_words": self.kernel_words, "rram_words": self.rram_words, "bdpe_usage": self.bdpe_usage,
            "baseline": self.baseline, "bdpe": self.bdpe, "gain": self.gain, "layers": self.layers,
            "bdpe_config": self.bdpe_config, "model": self.model, "latency_sweep": self.latency_sweep,
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


def _calibrate(platform: Platform) -> _Calibration:
    """Fit the rest-of-program rates to the published baseline run (and to nothing else)."""
    from .networks import get_network

    run = platform.baseline_run
    net = get_network(run.network)
    n = net.bdps()
    c_base = platform.sequence_cycles()["baseline"]
    inference_cycles = run.inference_time_s * platform.f_clk_Hz
    rest_inference = inference_cycles - n * c_base
    setup = run.cycles - inference_cycles
    units, params = _rest_work(net)
    rest_all = run.cycles - n * c_base
    seq = sequences()["baseline"]
    return _Calibration(
        rest_cycles_per_unit=rest_inference / units,
        setup_cycles_per_param=setup / params,
        idle_fraction_of_rest=run.idle_cycles / rest_all,
        instructions_per_rest_cycle=(run.instructions - n * len(seq)) / rest_all,
        l1d_reads_per_rest_cycle=(run.l1d_reads - n * sum(1 for s in seq if s[3] == "load")) / rest_all,
        l1d_misses_per_rest_cycle=run.l1d_misses / rest_all,
        dram_reads_per_rest_cycle=run.dram_reads / rest_all,
        dram_writes_per_rest_cycle=run.dram_writes / rest_all,
        other_simd_per_rest_cycle=(run.simd_ops - n) / rest_all,
    )


def _totals(platform: Platform, cal: _Calibration, bdp_cycles: float, bdp_insts: float, bdp_reads: float,
            bdp_simd: float, rest_inference_cycles: float, setup_cycles: float, bdpe_energy: float) -> dict:
    rest = rest_inference_cycles + setup_cycles
    inference_cycles = bdp_cycles + rest_inference_cycles
    cycles = inference_cycles + setup_cycles
    idle = cal.idle_fraction_of_rest * rest
    active = cycles - idle
    llc_reads = cal.l1d_misses_per_rest_cycle * rest
    dram_reads = cal.dram_reads_per_rest_cycle * rest
    dram_writes = cal.dram_writes_per_rest_cycle * rest
    e_core_active = active * platform.e_active_J
    e_core_idle = idle * platform.e_idle_J
    e_static = cycles * platform.e_static_J
    e_llc = llc_reads * platform.e_llc_read_J + dram_writes * platform.e_llc_write_J
    e_dram = (dram_reads + dram_writes) * platform.e_dram_J
    energy = e_core_active + e_core_idle + e_static + e_llc + bdpe_energy
    return {
        "time_s": inference_cycles / platform.f_clk_Hz,
        "cycles": cycles,
        "inference_cycles": inference_cycles,
        "idle_cycles": idle,
        "instructions": bdp_insts + cal.instructions_per_rest_cycle * rest,
        "l1d_reads": bdp_reads + cal.l1d_reads_per_rest_cycle * rest,
        "simd_ops": bdp_simd + cal.other_simd_per_rest_cycle * rest,
        "llc_reads": llc_reads, "dram_reads": dram_reads, "dram_writes": dram_writes,
        "energy_J": energy,
        "energy_with_dram_J": energy + e_dram,
        "energy_breakdown_J": {"core_active": e_core_active, "core_idle": e_core_idle, "static": e_static,
                               "llc": e_llc, "bdpe": bdpe_energy, "dram": e_dram},
    }


def evaluate(net: Network, platform: Platform, bdpe: BDPEConfig | None = None, *,
             latency_sweep: tuple[int, ...] = (1, 2, 4, 8)) -> EvaluationResult:
    """Per-layer tally of baseline and BDPE runs of ``net`` on ``platform``."""
    bdpe = bdpe or PUBLISHED_DOTP
    cal = _calibrate(platform)
    chk_cycles, dpm_cycles = bdpe.cycles(platform.f_clk_Hz)
    seq_cycles = platform.sequence_cycles(chk_cycles, dpm_cycles)
    n_insts, n_loads = _sequence_counts()
    hits_by_layer = profile_fill(net, bdpe.rram_words, bdpe.rram_usage)
    layers = [_layer_costs(s, hits_by_layer.get(s.index, 0.0), platform, cal, bdpe, seq_cycles, n_insts, n_loads)
              for s in net.shapes()]

    def total(run: str, key: str) -> float:  # the totals are sums of the layers, nothing computed twice
        t = 0.0
        for layer in layers:
            t += layer[run][key]
        return t

    n = net.bdps()
    rest = total("rest", "cycles")
    setup = _rest_work(net)[1] * cal.setup_cycles_per_param
    baseline = _totals(platform, cal, total("baseline", "bdp_cycles"), total("baseline", "instructions"),
                       total("baseline", "l1d_reads"), n, rest, setup, 0.0)
    with_bdpe = _totals(platform, cal, total("bdpe", "bdp_cycles"), total("bdpe", "instructions"),
                        total("bdpe", "l1d_reads"), 0.0, rest, setup, total("bdpe", "bdpe_unit_energy_J"))
    for layer in layers:
        layer["rest_cycles"] = layer.pop("rest")["cycles"]
    result = EvaluationResult(
        network=net.name, platform=platform.name, bdp_ops=n, kernel_words=net.kernel_words(),
        rram_words=bdpe.rram_words if bdpe.rram_usage is None else None,
        bdpe_usage=sum(layer["rram_hits"] for layer in layers) / n if n else 0.0,
        baseline=baseline, bdpe=with_bdpe, gain=_gains(baseline, with_bdpe, n), layers=layers,
        bdpe_config={"source": bdpe.source, "rram_latency_s": bdpe.rram_latency_s,
                     "register_latency_s": bdpe.register_latency_s, "rram_energy_J": bdpe.rram_energy_J,
                     "register_energy_J": bdpe.register_energy_J, "chk_cycles": chk_cycles, "dpm_cycles": dpm_cycles},
        model={"sequence_cycles": seq_cycles, "sequence_instructions": n_insts,
               "latency_cycles": dict(platform.latency_cycles), "fitted_to": f"baseline run of {platform.baseline_run.network}",
               "rest_cycles_per_unit": cal.rest_cycles_per_unit, "setup_cycles": setup},
    )
    for cycles in latency_sweep:  # the same evaluation with the BDPE latency forced to N cycles
        swept = evaluate(net, platform, replace(bdpe, latency_cycles_override=cycles), latency_sweep=())
        result.latency_sweep.append({"bdpe_latency_cycles": cycles, "performance": swept.gain["performance"],
                                     "energy": swept.gain["energy"]})
    return result


def _sequence_counts() -> tuple[dict[str, int], dict[str, int]]:
    """Instructions and loads per BDP of each sequence (baseline, hit, miss)."""
    seqs = sequences()
    return ({k: len(v) for k, v in seqs.items()},
            {k: sum(1 for x in v if x[3] == "load") for k, v in seqs.items()})


def _layer_costs(s, hits: float, platform: Platform, cal: _Calibration, bdpe: BDPEConfig,
                 seq_cycles: dict[str, float], n_insts: dict[str, int], n_loads: dict[str, int]) -> dict:
    """One layer's costs in both runs (a temporary ``rest`` entry holds the non-BDP cycles)."""
    misses = s.bdps - hits
    rest_cycles = (s.float_macs + s.out_elements) * cal.rest_cycles_per_unit
    base_cyc = s.bdps * seq_cycles["baseline"]
    bdpe_cyc = hits * seq_cycles["hit"] + misses * seq_cycles["miss"]
    e_bdpe = hits * bdpe.rram_energy_J + misses * bdpe.register_energy_J
    # per-layer core energy: BDP cycles active, the rest with the calibrated idle share; LLC and
    # DRAM energy appear in the totals only
    f_idle = cal.idle_fraction_of_rest
    e_rest = rest_cycles * ((1 - f_idle) * platform.e_active_J + f_idle * platform.e_idle_J + platform.e_static_J)
    e_cyc = platform.e_active_J + platform.e_static_J
    return {
        "index": s.index, "name": s.name, "kind": s.layer.kind, "binary": s.binary,
        "in_shape": list(s.in_shape), "out_shape": list(s.out_shape),
        "words_per_filter": s.words_per_filter, "kernel_words": s.kernel_words,
        "bdps": s.bdps, "rram_hits": hits, "float_macs": s.float_macs,
        "baseline": {"cycles": base_cyc + rest_cycles, "bdp_cycles": base_cyc,
                     "instructions": s.bdps * n_insts["baseline"], "l1d_reads": s.bdps * n_loads["baseline"],
                     "energy_J": base_cyc * e_cyc + e_rest},
        "bdpe": {"cycles": bdpe_cyc + rest_cycles, "bdp_cycles": bdpe_cyc,
                 "instructions": hits * n_insts["hit"] + misses * n_insts["miss"],
                 "l1d_reads": hits * n_loads["hit"] + misses * n_loads["miss"],
                 "energy_J": bdpe_cyc * e_cyc + e_rest + e_bdpe, "bdpe_unit_energy_J": e_bdpe},
        "rest": {"cycles": rest_cycles},
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
