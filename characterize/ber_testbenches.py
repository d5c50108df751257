"""Monte Carlo of the sense path: the ``sense-ber`` testbench (operation ``sense_ber``).

What one point simulates
------------------------
``words`` words of the array, each the real read path of a 64-bit word: 64 columns of 1T1R cells
(one row read, the others lumped as in every array deck), one StrongARM sense amplifier per column,
and one reference (64 merged replica columns) shared by the word's 64 amplifiers, exactly as in the
engine (:func:`circuits.bdpe.bdpe`); ``columns`` < 64 gives a smaller deck of the same kind (tests). The word read stores alternating bits (``0x5555...``), so a word
gives 32 samples of a stored 1 (LRS) and 32 of a stored 0 (HRS); all words share the control
signals, so one transient yields ``64 * words`` decisions.

Variability:

* every transistor (access devices, amplifiers, replica columns, word-line drivers) draws its own
  threshold mismatch from the SKY130 mismatch models (``Technology.with_mismatch``; ngspice draws
  when it instantiates the circuit, from ``setseed seed``: :class:`characterize.runtime.SimSpec`);
* every read cell draws its read resistance: lognormal, mean = nominal, sigma/mu = ``d2d_sigma``
  (:func:`circuits.bdpe.d2d_resistance_factors`, ``rram_models.Variability`` with seed ``seed``,
  device ``64 * w + c`` for column ``c`` of word ``w``). The reference resistor is ideal (nominal).

The same ``seed`` and deck give the same samples (the ngspice draws are a function of the seed and
the loaded text: measured). The unselected rows are nominal.

The signed margin of a sample
-----------------------------
A read decides 1 when ``x_read > V_os``: ``x_read = V(ref) - V(bl)`` 0.1 ns after the rising sense
enable (the latch integrates its input for about that long before it regenerates), ``V_os`` the
amplifier's own trip point. ``V_os`` is measured on the same amplifier in the same transient, after
the read, by a successive-approximation search in read-like conditions: word lines off; each step
precharges the reference to ``vcm`` and the bit line to ``vcm - x_k``, lets both float for 0.1 ns
(as in a read: the latch's kick-back lands on floating lines) and fires the latch; the decision is
held on a capacitor (behavioural sample-and-hold) and moves the next ``x`` by -+range/2^(k+1). The
``x_k`` actually applied are read back from the bit lines at the same instant as ``x_read``; ``V_os``
is the middle of the tightest bracket [largest x decided 0, smallest x decided 1] (width
``range / 2^(steps-1)``; clipped, NaN, if every step decided alike). A static (stiff-input)
staircase was tried first: it disagreed with the read decisions by up to 13 mV (kick-back onto the
floating lines), the floating search agrees (``agreement``).

The signed margin of a sample is ``x_read - V_os`` for a stored 1 and ``V_os - x_read`` for a stored
0: positive = right. The decisions themselves (``q`` at the end of the evaluation window; not
resolved to within 20 % of a rail counts as wrong) give the counted error rate; the margins give the
fitted one (:mod:`characterize.ber_stats`). ``agreement`` is the fraction of samples whose margin
sign matches the decision actually taken.

Common random numbers: the transistor draws depend on the seed and the order of the instances, not
on the window, the spread or the corner, and the RRAM draws on the seed and device number only, so
the points of a campaign (one seed) see the same amplifiers and cells: differences between them
are not sampling noise. The samples of one point are what a different seed would change.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from circuits.bdpe import ArrayParams, SenseParams, rram_array, sense_amp, sense_reference
from circuits.netlist import NetlistValueError, Subckt, fmt
from circuits.technology import Technology

from . import ber_stats
from .bdpe_testbenches import T_START, _PWL, _Cell, _cell, _f, _supply, _wl_driver
from .runtime import Probe, SimResult, SimSpec, Tran
from .testbench import Testbench

__all__ = ["SenseBerTB", "SENSE_BER", "PATTERN", "sense_ber_samples", "sense_ber_spec", "trip_points"]

PATTERN = int("55" * 8, 16)  # the stored word: bit c = 1 for even c (LRS), 0 for odd c (HRS)
_COLS = 64
_SLEW = 50e-12
_RESOLVED = 0.2             # q within 20 % of a rail counts as a decision
_T_SETTLE_S = 0.25e-9       # trip-point step: bit lines move to their rails (x is measured, not assumed)
_T_FLOAT_S = 0.1e-9         # precharge off to sense enable: the inputs float, as in a read
_T_INTEGRATE_S = 0.1e-9     # x of a decision is read this long after the sense enable (read and trip point)
_HOLD_G, _HOLD_C = 1e-3, 10e-15   # sample-and-hold of each step's decision: tau = 10 ps


@dataclass(frozen=True)
class SenseBerTB(_Cell):
    """Monte Carlo of the read path of ``words`` 64-bit words: bit-error rate and sense margins."""

    window: float = _f(0.0, "-", "R_off/R_on at 0.2 V (0: the parameter set's window); the reference follows it",
                       min_value=0.0, max_value=1e6)
    d2d_sigma: float = _f(0.0, "-", "device-to-device sigma/mu of each cell's read resistance (lognormal, mean nominal)",
                          min_value=0.0, max_value=1.0)
    t_sense: float = _f(1.2e-9, "s", "precharge end to sense-enable", min_value=1e-11, max_value=1e-7)
    t_pre: float = _f(0.4e-9, "s", "word line on to precharge end", min_value=1e-11, max_value=1e-7)
    t_eval: float = _f(0.8e-9, "s", "sense-enable to the decision", min_value=2e-10, max_value=1e-7)
    vpre: float = _f(0.2, "V", "bit-line precharge (read) voltage", min_value=0.05, max_value=0.4)
    rows: int = _f(128, "-", "array rows", min_value=2, max_value=1024)
    background: str = _f("lrs", "-", "state of the unselected rows", choices=("lrs", "hrs"))
    words: int = _f(1, "-", "64-bit words simulated side by side (64 samples each, half per stored state)",
                    min_value=1, max_value=16)
    columns: int = _f(64, "-", "columns of each word (64: the engine's word; fewer: a smaller, faster deck whose "
                               "reference merges as many replica columns)", min_value=2, max_value=64)
    seed: int = _f(1, "-", "Monte Carlo seed: ngspice setseed (transistor mismatch) and the RRAM draws",
                   min_value=0, max_value=2**31 - 1)
    mismatch: int = _f(1, "-", "1: SKY130 transistor mismatch models, 0: nominal transistors (RRAM spread only)",
                       min_value=0, max_value=1)
    offset_steps: int = _f(5, "-", "successive-approximation steps of each amplifier's trip point (0: none; the "
                                   "margins then leave the amplifier's offset out)", min_value=0, max_value=12)
    offset_range_V: float = _f(0.12, "V", "the trip-point search spans +-this (a trip point beyond is clipped)", min_value=0.005, max_value=0.5)
    vcm: float = _f(0.17, "V", "reference level during the trip-point search (the bit lines' common mode at a read)",
                    min_value=0.05, max_value=0.4)
    t_fire: float = _f(0.6e-9, "s", "sense enable high in a trip-point step", min_value=2e-10, max_value=1e-8)


@dataclass(frozen=True)
class _Plan:
    """Instants of one point (s)."""

    t_sae: float
    t_decide: float
    fire: tuple[float, ...]    # sense-enable rise of trip-point step k
    stop: float


def _plan(p: SenseBerTB) -> _Plan:
    t_sae = T_START + p.t_pre + p.t_sense
    t_decide = t_sae + p.t_eval
    cycle = _T_SETTLE_S + _T_FLOAT_S + p.t_fire + 2 * _SLEW
    start = t_decide + 3 * _SLEW + 2 * _T_SETTLE_S  # more settling: the read left the bit lines low
    fire = tuple(start + k * cycle + _T_SETTLE_S + _T_FLOAT_S for k in range(p.offset_steps))
    stop = (start + p.offset_steps * cycle) if p.offset_steps else t_decide + 2 * _SLEW
    return _Plan(t_sae, t_decide, fire, stop)


def _waveforms(p: SenseBerTB, plan: _Plan) -> dict[str, _PWL]:
    """Control waveforms: the read, then one precharge / float / fire cycle per trip-point step."""
    w = {n: _PWL(v) for n, v in (("wl", 0.0), ("pre", p.vdd), ("sae", 0.0), ("rail", p.vpre), ("cal", 0.0))}
    w["wl"].set(T_START, p.vdd)
    w["pre"].set(T_START + p.t_pre, 0.0)
    w["sae"].set(plan.t_sae, p.vdd)
    if plan.fire:
        # staggered by a slew each: sense enable off, then word line off and precharge on, then the rails
        for name, level, delay in (("sae", 0.0, 0), ("pre", p.vdd, 1), ("wl", 0.0, 1), ("rail", p.vcm, 2), ("cal", 1.0, 2)):
            w[name].set(plan.t_decide + delay * _SLEW, level)
    for k, t_fire in enumerate(plan.fire):
        w["pre"].set(t_fire - _T_FLOAT_S, 0.0)
        w["sae"].set(t_fire, p.vdd)
        w["sae"].set(t_fire + p.t_fire, 0.0)
        w["pre"].set(t_fire + p.t_fire, p.vdd)
        w[f"samp{k}"] = _PWL(0.0)
        w[f"samp{k}"].set(t_fire + p.t_fire - 3 * _SLEW, 1.0)  # held over [end - 2 slews, end - 1 slew]
        w[f"samp{k}"].set(t_fire + p.t_fire - _SLEW, 0.0)
    return w


def _search_lines(p: SenseBerTB, j: str) -> list[str]:
    """Successive approximation of amplifier ``j``'s trip point: step k's decision is held on
    ``h<j>_<k>`` (V(vdd)/2 before it is taken) and moves the bit-line rail ``vb<j>`` by
    -+range/2^(k+1): ``x = V(ref) - V(bl) = -sum_k (2 h_k / vdd - 1) range / 2^(k+1)``."""
    terms = [f"(2*V(h{j}_{k})/V(vdd)-1)*{fmt(p.offset_range_V / 2 ** (k + 1))}" for k in range(p.offset_steps)]
    shift = "+".join(terms) if terms else "0"
    lines = [f"Bvb{j} vb{j} 0 V=V(vrail)+V(cal)*({shift})"]
    for k in range(p.offset_steps):
        lines += [f"Bh{j}_{k} 0 h{j}_{k} I={fmt(_HOLD_G)}*(V(q{j})-V(h{j}_{k}))*V(samp{k})",
                  f"Ch{j}_{k} h{j}_{k} 0 {fmt(_HOLD_C)}", f"Rh{j}_{k} h{j}_{k} vhalf 1e12"]
    return lines


def _word_lines(p: SenseBerTB, tech: Technology, w: int, arr_name: str, ref_name: str, amps: list[str]) -> list[str]:
    cols = [f"bl{w}_{c}" for c in range(p.columns)]
    lines = [_wl_driver(tech, f"wld{w}", "wl_en", f"wl{w}"),
             f"Xarr{w} {' '.join(cols + ['0'] * p.columns)} wl{w} 0 {arr_name}",
             f"Xref{w} blref{w} pre vpre_ref vdd 0 {ref_name}"]
    for c in range(p.columns):
        lines.append(f"Xsa{w}_{c} bl{w}_{c} blref{w} pre sae vb{w}_{c} q{w}_{c} vdd 0 {amps[c]}")
        lines += _search_lines(p, f"{w}_{c}")
    return lines


def _controls(p: SenseBerTB, plan: _Plan) -> list[str]:
    waves = _waveforms(p, plan)
    lines = [waves["wl"].source("wl", "wl_en", p.vdd), waves["pre"].source("pre_ctl", "pre", p.vdd),
             waves["sae"].source("sae", "sae", p.vdd), waves["rail"].source("rail_bl", "vrail"),
             waves["rail"].source("rail_ref", "vpre_ref"), waves["cal"].source("cal", "cal"),
             "Bhalf vhalf 0 V=V(vdd)/2"]
    return lines + [waves[f"samp{k}"].source(f"samp{k}", f"samp{k}") for k in range(p.offset_steps)]


def sense_ber_spec(p: SenseBerTB, tech: Technology, amplifiers: Sequence[Subckt] | None = None) -> SimSpec:
    """The deck of ``p`` (see the module docstring); ``amplifiers`` (``columns`` sense-amplifier
    subcircuits, column c of every word uses the c-th) replaces the standard :func:`circuits.bdpe.sense_amp`."""
    if p.mismatch:
        tech = tech.with_mismatch(True)
    cell = _cell(p, window=p.window)
    sp = SenseParams()
    amps = list(amplifiers) if amplifiers is not None else [sense_amp(sp, tech)] * p.columns
    if len(amps) != p.columns:
        raise NetlistValueError("amplifiers", len(amps), f"must give {p.columns} subcircuits (columns)")
    ref = sense_reference(sp, cell, p.rows, ArrayParams().c_bl_per_cell_F, p.columns, tech)
    plan = _plan(p)
    lines, subckts = [], []
    for w in range(p.words):
        arr, rram = rram_array(ArrayParams(rows=p.rows, cols=p.columns, words=(PATTERN & ((1 << p.columns) - 1),),
                                           cell=cell, background=p.background,
                                           d2d_sigma=p.d2d_sigma, d2d_seed=p.seed, d2d_first_device=w * _COLS), tech)
        subckts += rram + [arr.text]
        lines += _word_lines(p, tech, w, arr.name, ref.name, [a.name for a in amps])
    includes = dict.fromkeys([i for a in amps for i in a.includes] + list(ref.includes) + [str(tech.stdcell_netlist("buf_8"))])
    supply, params = _supply(tech, p.vdd)
    deck = ([f'.include "{i}"' for i in includes] + subckts + list(dict.fromkeys(a.text for a in amps)) + [ref.text]
            + supply + _controls(p, plan) + lines)
    probes = [Probe("sae", "v", "sae")]
    for w in range(p.words):
        probes.append(Probe(f"blref{w}", "v", f"blref{w}"))
        probes += [Probe(f"{n}{w}_{c}", "v", f"{n}{w}_{c}") for n in ("bl", "q") for c in range(p.columns)]
    return SimSpec(deck="\n".join(deck), analysis=Tran(step_s=10e-12, stop_s=plan.stop, max_step_s=50e-12),
                   probes=tuple(probes), technology=tech, corner=p.corner, temperature_C=p.temperature_C,
                   params=params, timeout_s=3600.0, seed=p.seed if p.mismatch else None,
                   label=f"sense-ber window={p.window:g} d2d={p.d2d_sigma:g} {p.corner} seed={p.seed}")


def _build_ber(p: SenseBerTB, tech: Technology) -> SimSpec:
    return sense_ber_spec(p, tech)


def _level_decisions(q: np.ndarray, vdd: float) -> np.ndarray:
    """1 / 0 where ``q`` is within 20 % of a rail, -1 where it is not resolved."""
    return np.where(q > (1 - _RESOLVED) * vdd, 1, np.where(q < _RESOLVED * vdd, 0, -1))


def trip_points(x_steps: np.ndarray, d_steps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(V_os, clipped) per amplifier from its search steps (amplifiers x steps): the applied ``x`` and
    the decision (1: x above the trip point). V_os is the middle of the narrowest bracket, between the
    largest x decided 0 and the smallest decided 1; clipped (NaN) where every step decided alike."""
    lo = np.where(d_steps == 1, -np.inf, x_steps).max(axis=1)  # an unresolved step counts as 0
    hi = np.where(d_steps == 1, x_steps, np.inf).min(axis=1)
    clipped = ~(np.isfinite(lo) & np.isfinite(hi))
    return np.where(clipped, np.nan, 0.5 * (lo + hi)), clipped


def _differential(t: np.ndarray, r: SimResult, w: int, c: int, times) -> np.ndarray:
    return np.interp(times, t, r[f"blref{w}"]) - np.interp(times, t, r[f"bl{w}_{c}"])


def sense_ber_samples(p: SenseBerTB, r: SimResult) -> dict[str, np.ndarray]:
    """Per sample (word-major): ``stored`` bit, ``x_read`` = V(ref) - V(bl) 0.1 ns after the sense
    enable (V), ``decision`` (1, 0, -1 not resolved), ``wrong``, the amplifier's trip point ``vos`` (V;
    NaN when clipped; 0 without a search), ``clipped``, the signed ``margin`` (x_read - vos, positive
    = right) and ``bl_margin`` (the same without the trip point)."""
    plan = _plan(p)
    t = r["time"]
    bits = np.array([(PATTERN >> c) & 1 for c in range(p.columns)] * p.words)
    fire = np.array(plan.fire)
    x_read, q_end, x_steps, q_steps = [], [], [], []
    for w in range(p.words):
        for c in range(p.columns):
            x_read.append(float(_differential(t, r, w, c, plan.t_sae + _T_INTEGRATE_S)))
            q_end.append(float(np.interp(plan.t_decide - 20e-12, t, r[f"q{w}_{c}"])))
            x_steps.append(_differential(t, r, w, c, fire + _T_INTEGRATE_S))
            q_steps.append(np.interp(fire + p.t_fire - 1.5 * _SLEW, t, r[f"q{w}_{c}"]))  # what the hold took
    x_read, decision = np.array(x_read), _level_decisions(np.array(q_end), p.vdd)
    if p.offset_steps:
        vos, clipped = trip_points(np.array(x_steps), (np.array(q_steps) > p.vdd / 2).astype(int))
    else:
        vos, clipped = np.zeros_like(x_read), np.zeros(x_read.shape, dtype=bool)
    sign = np.where(bits == 1, 1.0, -1.0)
    return {"stored": bits, "x_read": x_read, "decision": decision, "wrong": decision != bits, "vos": vos,
            "clipped": clipped, "margin": sign * (x_read - vos), "bl_margin": sign * x_read}


def _state_metrics(tag: str, samples: dict[str, np.ndarray], state: int) -> dict[str, float]:
    sel = samples["stored"] == state
    est = ber_stats.state_ber(samples["margin"][sel], samples["wrong"][sel])
    bl = samples["bl_margin"][sel]
    return {f"ber_{tag}": est.ber, f"ber_fitted_{tag}": est.fit.ber, f"ber_counted_{tag}": est.counted,
            f"ber_counted_lo_{tag}": est.counted_lo, f"ber_counted_hi_{tag}": est.counted_hi,
            f"errors_{tag}": est.errors, f"samples_{tag}": est.samples, f"fitted_used_{tag}": float(est.fitted_used),
            f"margin_mean_{tag}_V": est.fit.mean, f"margin_sigma_{tag}_V": est.fit.std,
            f"normality_p_{tag}": est.fit.shapiro_p,
            f"bl_margin_mean_{tag}_V": float(np.mean(bl)), f"bl_margin_sigma_{tag}_V": float(np.std(bl, ddof=1))}


def _measure_ber(p: SenseBerTB, r: SimResult) -> dict:
    s = sense_ber_samples(p, r)
    out = {**_state_metrics("lrs", s, 1), **_state_metrics("hrs", s, 0)}
    out["ber"] = 0.5 * (out["ber_lrs"] + out["ber_hrs"])  # stored 1 and 0 equally likely
    out["ber_fitted"] = 0.5 * (out["ber_fitted_lrs"] + out["ber_fitted_hrs"])
    out["ber_counted"] = float(np.mean(s["wrong"]))
    out["samples"] = float(s["wrong"].size)
    vos = s["vos"][np.isfinite(s["vos"])]
    has_offsets = p.offset_steps > 0 and vos.size > 1
    out["offset_mean_V"] = float(vos.mean()) if has_offsets else float("nan")
    out["offset_sigma_V"] = float(vos.std(ddof=1)) if has_offsets else float("nan")
    out["offset_samples"] = float(vos.size) if p.offset_steps else 0.0
    out["offset_clipped"] = float(s["clipped"].sum())
    # the bracket a search ends in: range / 2^(steps - 1) wide, V_os its middle
    out["offset_resolution_V"] = p.offset_range_V / 2 ** (p.offset_steps - 1) if p.offset_steps else float("nan")
    ok = np.isfinite(s["margin"])
    out["agreement"] = float(np.mean((s["margin"][ok] > 0) == ~s["wrong"][ok])) if ok.any() else float("nan")
    return out


def _units() -> dict[str, str]:
    units = {"ber": "-", "ber_fitted": "-", "ber_counted": "-", "samples": "-", "offset_mean_V": "V",
             "offset_sigma_V": "V", "offset_samples": "-", "offset_clipped": "-", "offset_resolution_V": "V",
             "agreement": "-"}
    for tag in ("lrs", "hrs"):
        units.update({f"{m}_{tag}": "-" for m in ("ber", "ber_fitted", "ber_counted", "ber_counted_lo", "ber_counted_hi",
                                                  "errors", "samples", "fitted_used", "normality_p")})
        units.update({f"{m}_{tag}_V": "V" for m in ("margin_mean", "margin_sigma", "bl_margin_mean", "bl_margin_sigma")})
    return units


SENSE_BER = Testbench(
    name="sense-ber", technology="sky130",
    description="Monte Carlo of the read path (SKY130 mismatch + RRAM device-to-device spread): bit-error rate per "
                "stored state, counted (Clopper-Pearson 95 %) and from a normal fit of the signed sense margin",
    params_type=SenseBerTB, build=_build_ber, measure=_measure_ber, units=_units(),
)
