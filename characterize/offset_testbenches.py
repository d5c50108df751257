"""The input-referred offset of the sense amplifier: the ``sense-offset`` testbench (operation
``sense_offset``), in two modes that estimate the same sigma two independent ways.

* ``mc``: Monte Carlo. ``words`` x 64 amplifiers with the SKY130 mismatch models (every transistor
  its own draw, seed ``seed``), each amplifier's trip point found by the successive-approximation
  search of :mod:`characterize.ber_testbenches` (read-like floating inputs); the mean and sample
  standard deviation of the trip points, with their count.
* ``sensitivity``: Pelgrom's law with the library's own matching constants. Nominal transistors; in
  column ``2i`` / ``2i+1`` device ``i`` of the amplifier has its gate shifted by ``+delta`` /
  ``-delta`` (a series source: for the channel current the same as a threshold shift of that size),
  the other columns are nominal. The sensitivity of the trip point to device ``i``'s threshold is
  ``g_i = (V_os(+) - V_os(-)) / (2 delta)`` (a 32-column deck: 26 shifted, 6 nominal); its threshold sigma ``sigma_i`` comes from the model
  library (:func:`circuits.mismatch.vth_mismatch`: ``sw_mm_vth0_<device> / sqrt(W L)``, times the
  nfet's geometry factors); ``sigma_os = sqrt(sum g_i^2 sigma_i^2)``, linear and to first order.
  The 13 transistors of :func:`circuits.bdpe.sense_amp` are covered; the four standard cells inside
  it (two inverters driving the precharge and tail/reset gates, two output buffers) are not: they
  act on both sides alike or only load the outputs.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from circuits.bdpe import SenseParams, sense_amp
from circuits.mismatch import vth_mismatch
from circuits.netlist import Subckt, fmt
from circuits.technology import Technology, get_technology

from .bdpe_testbenches import _Operating, _f
from .ber_testbenches import SenseBerTB, sense_ber_samples, sense_ber_spec
from .runtime import SimResult, SimSpec
from .testbench import Testbench

__all__ = ["SenseOffsetTB", "SENSE_OFFSET", "AMP_DEVICES", "shifted_amplifier"]

# the transistors of circuits.bdpe.sense_amp: (instance name, SenseParams width field, device kind)
AMP_DEVICES = (("pre", "pre_w_um", "nmos"), ("prep", "pre_p_w_um", "pmos"), ("tail", "latch_tail_w_um", "pmos"),
               ("in1", "latch_in_w_um", "pmos"), ("in2", "latch_in_w_um", "pmos"), ("xp1", "latch_p_w_um", "pmos"),
               ("xp2", "latch_p_w_um", "pmos"), ("xn1", "latch_n_w_um", "nmos"), ("xn2", "latch_n_w_um", "nmos"),
               ("r1", "latch_reset_w_um", "nmos"), ("r2", "latch_reset_w_um", "nmos"), ("r3", "latch_reset_w_um", "nmos"),
               ("r4", "latch_reset_w_um", "nmos"))


_SENSITIVITY_COLUMNS = 32  # 2 x 13 shifted amplifiers and 6 nominal ones


@dataclass(frozen=True)
class SenseOffsetTB(_Operating):
    """Offset sigma of the sense amplifier: Monte Carlo (``mc``) or Pelgrom sensitivities (``sensitivity``)."""

    mode: str = _f("sensitivity", "-", "mc: trip points of mismatched amplifiers; sensitivity: Pelgrom's law from "
                                       "per-device sensitivities and the library's matching constants",
                   choices=("sensitivity", "mc"))
    words: int = _f(1, "-", "mc: 64 amplifiers per word", min_value=1, max_value=16)
    seed: int = _f(1, "-", "mc: ngspice setseed", min_value=0, max_value=2**31 - 1)
    delta_V: float = _f(0.02, "V", "sensitivity: gate shift of one device", min_value=1e-3, max_value=0.1)
    offset_steps: int = _f(9, "-", "successive-approximation steps of each trip point", min_value=2, max_value=12)
    offset_range_V: float = _f(0.12, "V", "the search spans +-this", min_value=0.005, max_value=0.5)


def shifted_amplifier(base: Subckt, device: str, shift_V: float, tag: str) -> Subckt:
    """``base`` (a :func:`circuits.bdpe.sense_amp`) with the gate of transistor ``device`` behind a
    series source: V(internal gate) = V(gate) + ``shift_V``."""
    lines = base.text.splitlines()
    name = f"{base.name}_{tag}"
    out = []
    for line in lines:
        tokens = line.split()
        if tokens and tokens[0] == f"X{device}":
            gate = tokens[2]
            tokens[2] = f"{gate}_sh"
            out += [" ".join(tokens), f"Vsh_{device} {gate}_sh {gate} dc {fmt(shift_V)}"]
        elif tokens[:2] in ([".subckt", base.name], [".ends", base.name]):
            out.append(" ".join([tokens[0], name] + tokens[2:]))
        else:
            out.append(line)
    if len(out) != len(lines) + 1:
        raise ValueError(f"transistor X{device} not found in {base.name}")
    return Subckt(name=name, ports=base.ports, text="\n".join(out), includes=base.includes)


def _ber_params(p: SenseOffsetTB) -> SenseBerTB:
    """The deck's own settings: one read (irrelevant here), then the search, on full-window cells."""
    mc = p.mode == "mc"
    return SenseBerTB(corner=p.corner, vdd=p.vdd, temperature_C=p.temperature_C, words=p.words if mc else 1,
                      columns=64 if mc else _SENSITIVITY_COLUMNS, seed=p.seed, mismatch=int(mc),
                      offset_steps=p.offset_steps, offset_range_V=p.offset_range_V)


def _build_offset(p: SenseOffsetTB, tech: Technology) -> SimSpec:
    pb = _ber_params(p)
    if p.mode == "mc":
        return dataclasses.replace(sense_ber_spec(pb, tech), label=f"sense-offset mc {p.corner} seed={p.seed}")
    base = sense_amp(SenseParams(), tech)
    amps = []
    for device, _, _ in AMP_DEVICES:
        amps += [shifted_amplifier(base, device, p.delta_V, f"{device}_p"),
                 shifted_amplifier(base, device, -p.delta_V, f"{device}_m")]
    amps += [base] * (_SENSITIVITY_COLUMNS - len(amps))
    return dataclasses.replace(sense_ber_spec(pb, tech, amplifiers=amps), label=f"sense-offset sensitivity {p.corner}")


def _measure_mc(vos: np.ndarray, clipped: np.ndarray) -> dict:
    ok = vos[np.isfinite(vos)]
    return {"offset_mean_V": float(ok.mean()), "offset_sigma_V": float(ok.std(ddof=1)), "offset_samples": float(ok.size),
            "offset_clipped": float(clipped.sum())}


def _measure_sensitivity(p: SenseOffsetTB, vos: np.ndarray) -> dict:
    tech = get_technology("sky130")
    sp = SenseParams()
    nominal = vos[2 * len(AMP_DEVICES):]
    out = {"offset_nominal_V": float(np.nanmedian(nominal)), "offset_nominal_spread_V": float(np.nanmax(nominal) - np.nanmin(nominal))}
    total = pair = 0.0
    for k, (device, width_field, kind) in enumerate(AMP_DEVICES):
        sigma = vth_mismatch(tech, kind, getattr(sp, width_field), tech.min_length_um[kind], corner=p.corner).sigma_V
        gain = (vos[2 * k] - vos[2 * k + 1]) / (2 * p.delta_V)
        out[f"sens_{device}"] = float(gain)
        out[f"sigma_vt_{device}_V"] = sigma
        total += (gain * sigma) ** 2
        pair += (gain * sigma) ** 2 if device in ("in1", "in2") else 0.0
    out["offset_sigma_pelgrom_V"] = float(np.sqrt(total))
    out["offset_sigma_input_pair_V"] = float(np.sqrt(pair))
    return out


def _measure_offset(p: SenseOffsetTB, r: SimResult) -> dict:
    samples = sense_ber_samples(_ber_params(p), r)
    out = {"offset_resolution_V": p.offset_range_V / 2 ** (p.offset_steps - 1)}
    if p.mode == "mc":
        return {**out, **_measure_mc(samples["vos"], samples["clipped"])}
    return {**out, **_measure_sensitivity(p, samples["vos"])}


SENSE_OFFSET = Testbench(
    name="sense-offset", technology="sky130",
    description="input-referred offset of the sense amplifier: Monte Carlo trip points (mode=mc) or Pelgrom's law "
                "from per-device sensitivities and the SKY130 matching constants (mode=sensitivity)",
    params_type=SenseOffsetTB, build=_build_offset, measure=_measure_offset,
    units={"offset_resolution_V": "V", "offset_mean_V": "V", "offset_sigma_V": "V", "offset_samples": "-",
           "offset_clipped": "-", "offset_nominal_V": "V", "offset_nominal_spread_V": "V",
           "offset_sigma_pelgrom_V": "V", "offset_sigma_input_pair_V": "V",
           **{f"sens_{d[0]}": "V/V" for d in AMP_DEVICES}, **{f"sigma_vt_{d[0]}_V": "V" for d in AMP_DEVICES}},
)
