"""The sense amplifier's offset sigma two ways, and why they differ.

    .venv/bin/python scripts/offset_check.py [--corner tt] [--words 4] [--seed 11] [--devices 150]

1. Monte Carlo: ``sense-offset mode=mc``: ``words`` x 64 amplifiers with the SKY130 mismatch models,
   each one's trip point by the read-like successive-approximation search (0.47 mV brackets).
2. Pelgrom: ``sense-offset mode=sensitivity``: the trip point's sensitivity to each of the 13
   transistors' threshold (a +-20 mV gate shift) times that transistor's threshold sigma from the
   library's matching constants (``circuits.mismatch.vth_mismatch``), root-sum-square.
3. The check between them: for each device type and size in the amplifier, ``devices`` instances at
   V_GS = V_DS = 0.9 V with the mismatch models (one operating point each), their drain-current
   spread divided by the nominal g_m: the threshold spread the model actually produces, against the
   ``delvto`` sigma of step 2. Where they differ, step 2's sum is redone with the measured one.
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from characterize.offset_testbenches import AMP_DEVICES, SENSE_OFFSET, SenseOffsetTB  # noqa: E402
from characterize.runtime import Op, Probe, SimSpec, SimulationPool  # noqa: E402
from circuits.bdpe import SenseParams  # noqa: E402
from circuits.technology import sky130  # noqa: E402


def _current_deck(tech, kind: str, w: float, length: float, vg: float, n: int) -> str:
    model = tech.device(kind)
    lines = [f"Vg g 0 dc {vg}", "Vs vs 0 dc 1.8"]
    for i in range(n):  # pmos: source at 1.8 V, V_SG = 1.8 - vg; nmos: source at 0
        s = "vs" if kind == "pmos" else "0"
        lines += [f"Vd{i} d{i} 0 dc 0.9", f"X{i} d{i} g {s} {s} {model} w={w} l={length}"]
    return "\n".join(lines)


def effective_sigmas(corner: str, n: int, pool) -> dict[tuple[str, float], float]:
    """(kind, W) -> threshold sigma (V) from the drain-current spread of ``n`` mismatched instances."""
    tech = sky130()
    sizes = sorted({(kind, getattr(SenseParams(), field)) for _, field, kind in AMP_DEVICES})
    specs = []
    for kind, w in sizes:
        probes = tuple(Probe(f"i{i}", "i", f"Vd{i}") for i in range(n))
        length = tech.min_length_um[kind]
        for t, vg, seed in ((tech.with_mismatch(True), 0.9, 7), (tech, 0.901, None), (tech, 0.899, None)):
            specs.append(SimSpec(deck=_current_deck(t, kind, w, length, vg, n), analysis=Op(), probes=probes,
                                 technology=t, corner=corner, seed=seed, label=f"offset-check {kind} {w}"))
    results = [r.raise_for_status() for r in pool.map(specs)]
    out = {}
    for k, size in enumerate(sizes):
        mc, hi, lo = (np.array([abs(r[f"i{i}"][0]) for i in range(n)]) for r in results[3 * k:3 * k + 3])
        out[size] = float(np.std(mc, ddof=1) / (abs(hi[0] - lo[0]) / 0.002))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corner", default="tt")
    ap.add_argument("--words", type=int, default=4)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--devices", type=int, default=150)
    args = ap.parse_args(argv)
    mc_p = SenseOffsetTB(corner=args.corner, mode="mc", words=args.words, seed=args.seed)
    sens_p = SenseOffsetTB(corner=args.corner)
    with SimulationPool(1) as pool:
        mc = SENSE_OFFSET.measure(mc_p, pool.run(SENSE_OFFSET.spec(mc_p)).raise_for_status())
        sens = SENSE_OFFSET.measure(sens_p, pool.run(SENSE_OFFSET.spec(sens_p)).raise_for_status())
        eff = effective_sigmas(args.corner, args.devices, pool)
    n = mc["offset_samples"]
    lo, hi = (mc["offset_sigma_V"] * math.sqrt((n - 1) / q) for q in (_chi2(0.975, n - 1), _chi2(0.025, n - 1)))
    print(f"Monte Carlo ({args.corner}, seed {args.seed}): sigma {1e3 * mc['offset_sigma_V']:.2f} mV "
          f"(95 % CI {1e3 * lo:.2f}-{1e3 * hi:.2f}), mean {1e3 * mc['offset_mean_V']:.2f} mV, {n:.0f} amplifiers, "
          f"{mc['offset_clipped']:.0f} clipped, brackets {1e3 * mc['offset_resolution_V']:.2f} mV")
    print(f"Pelgrom (library constants x simulated sensitivities): {1e3 * sens['offset_sigma_pelgrom_V']:.2f} mV; "
          f"input pair alone {1e3 * sens['offset_sigma_input_pair_V']:.2f} mV")
    total = 0.0
    for device, field, kind in AMP_DEVICES:
        w = getattr(SenseParams(), field)
        ratio = eff[(kind, w)] / sens[f"sigma_vt_{device}_V"]
        total += (sens[f"sens_{device}"] * eff[(kind, w)]) ** 2
        print(f"  {device:5s} {kind} W={w:g}: sensitivity {sens[f'sens_{device}']:+.3f}, delvto sigma "
              f"{1e3 * sens[f'sigma_vt_{device}_V']:.2f} mV, effective (current spread) {1e3 * eff[(kind, w)]:.2f} mV "
              f"({ratio:.2f}x)")
    print(f"Pelgrom with the effective threshold sigmas: {1e3 * math.sqrt(total):.2f} mV")
    return 0


def _chi2(q: float, dof: float) -> float:
    from scipy import stats

    return float(stats.chi2.ppf(q, dof))


if __name__ == "__main__":
    sys.exit(main())
