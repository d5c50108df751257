"""Area cross-check of circuits.bdpe.area_estimate (issue 18).

    .venv/bin/python scripts/area_crosscheck.py            # prints the three checks below
    .venv/bin/python scripts/area_crosscheck.py --json     # the same numbers as JSON

1. **Foundry cells, exact.**  The size of every sky130_fd_sc_hd cell the engine uses, from its LEF
   ``SIZE`` (width x the 2.72 um row height), and the standard-cell part of every block recomputed
   from the cells the *netlists* instantiate (:func:`circuits.bdpe.bdpe`, :func:`circuits.bdpe.write_row`,
   counted through the subcircuit hierarchy) with the estimate's own rules (LEF area / placement
   utilisation for cell blocks; the estimate's per-device rule for the custom transistors).  Must
   agree with ``area_estimate`` to rounding: a difference means the estimate counts other cells than
   the circuit has.  (tests/test_area.py also checks the LEF areas against the Liberty ``area`` of
   the facts-sheet cells.)

2. **Custom blocks, transistor count x contacted pitch.**  An independent estimate from the
   transistors of the sense amplifier, the reference and the 1T1R cell and SKY130 layout rules:
   every device (finger) occupies one contacted poly pitch ``P`` across its gate and its width plus
   one diffusion spacing along it, ``P x (W + S_diff)``; a block with both device types adds an
   n-well boundary strip ``(E_nwell + S_ndiff_nwell) x`` its width (the wider of its n and p device
   rows, ``P`` per device).  Rules used (SKY130 design rules, um):

   * ``P`` = 0.46: poly 0.15 (poly.1a) + 2 x licon-to-gate 0.055 (licon.11) + licon 0.17 (licon.1)
     = 0.43, on the 0.46 um li1 / placement-site grid of sky130_fd_sc_hd (its tech LEF: li1 PITCH 0.46);
   * ``S_diff`` = 0.27: diffusion-to-diffusion spacing (difftap.3);
   * ``E_nwell`` = 0.18: n-well enclosure of p-diffusion (difftap.8); ``S_ndiff_nwell`` = 0.34:
     n-diffusion to n-well spacing (difftap.9);
   * the reference's poly resistor and MIM capacitor keep the estimate's own figures (20 um^2 per
     column; 2 fF/um^2); standard cells inside the blocks are taken at their LEF size.

   The same rule applied to the foundry cells themselves (their netlists vs their LEF areas) gives
   its error on real layouts: it leaves out routing, taps, rails and the fixed row height, and the
   ratio LEF / rule over those cells (printed) is the uncertainty quoted for the custom blocks.
   The 1T1R cell: one device; the array pitch (a bit line and a source line on met1 per column,
   met1 pitch 0.34) is checked too.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from circuits.bdpe import (BDPEParams, WriteRowParams, _device_area_um2, area_estimate,  # noqa: E402
                           bdpe, write_row)
from circuits.cell_netlist import read_cell  # noqa: E402
from circuits.technology import sky130  # noqa: E402

RULES_UM = {"contacted_poly_pitch": 0.46, "diff_spacing": 0.27, "nwell_enclosure_pdiff": 0.18,
            "ndiff_to_nwell": 0.34, "met1_pitch": 0.34}
FOUNDRY_CHECK_CELLS = ("inv_1", "inv_4", "buf_1", "buf_8", "nand2_1", "and2_4", "mux2_1", "xnor2_1", "fa_1", "ha_1")


# ----------------------------------------------------------------------------------------------
# netlist hierarchy


def subckts(text: str) -> dict[str, list[list[str]]]:
    """Subcircuit name -> its element lines (tokens) from a netlist text (continuations joined)."""
    out: dict[str, list[list[str]]] = {}
    current = None
    for raw in text.replace("\n+", " ").splitlines():
        tokens = raw.split()
        if not tokens or tokens[0].startswith("*"):
            continue
        if tokens[0].lower() == ".subckt":
            current = tokens[1]
            out[current] = []
        elif tokens[0].lower() == ".ends":
            current = None
        elif current is not None:
            out[current].append(tokens)
    return out


def _instance(tokens: list[str]) -> tuple[str, dict[str, float]]:
    """(referenced subcircuit or model, parameters) of an ``X`` line."""
    params = {}
    plain = []
    for tok in tokens[1:]:
        if "=" in tok:
            k, v = tok.split("=", 1)
            params[k.lower()] = float(v)
        else:
            plain.append(tok)
    return plain[-1], params


def leaf_instances(text: str, top: str, prefix: str = "sky130_fd_sc_hd__") -> tuple[dict[str, int], list[tuple[str, float, float, int]]]:
    """(standard cell -> instance count, custom transistors as (model, W um, L um, multiplier)) under
    ``top``, through the subcircuit hierarchy of ``text``."""
    defs = subckts(text)
    cells: dict[str, int] = {}
    devices: list[tuple[str, float, float, int]] = []

    def walk(name: str, mult: int) -> None:
        for tokens in defs[name]:
            if not tokens[0].upper().startswith("X"):
                continue
            ref, params = _instance(tokens)
            m = int(params.get("m", 1))
            if ref in defs:
                walk(ref, mult * m)
            elif ref.startswith(prefix):
                cells[ref[len(prefix):]] = cells.get(ref[len(prefix):], 0) + mult * m
            elif "w" in params and "l" in params:
                devices.append((ref, params["w"], params["l"], mult * m))
            # anything else (the RRAM behavioural subcircuits) has no area of its own
    walk(top, 1)
    return cells, devices


# ----------------------------------------------------------------------------------------------
# 1. the foundry cells, exact


def lef_area(tech, cell: str) -> float:
    w, h = tech.stdcell_size_um(cell)
    return w * h


def foundry_check(tech=None, utilization: float = 0.7) -> dict:
    """Per block: area from the netlists with the estimate's rules vs ``area_estimate``."""
    tech = tech or sky130()
    p = BDPEParams()
    est = area_estimate(p, tech, utilization)
    top, _ = bdpe(p, tech)
    cells, devices = leaf_instances(top.text, top.name)
    defs = subckts(top.text)
    sa = next(k for k in defs if k.startswith("sense_amp_"))
    ref = next(k for k in defs if k.startswith("sense_ref_"))
    pc = next(k for k in defs if k.startswith("popcount_"))

    def block(name: str, mult: int = 1) -> tuple[dict[str, int], list]:
        c, d = leaf_instances(top.text, name)
        return {k: v * mult for k, v in c.items()}, [(m, w, l, n * mult) for m, w, l, n in d]

    def std_area(c: dict[str, int]) -> float:
        return sum(n * lef_area(tech, cell) for cell, n in c.items())

    def dev_area(d: list) -> float:
        return sum(_device_area_um2(w, l, n) for _, w, l, n in d)

    cols, rows = p.array.cols, p.array.rows
    sa_c, sa_d = block(sa, cols)
    ref_c, ref_d = block(ref)
    ref_extra = cols * (20.0 + rows * (p.array.c_bl_per_cell_F + p.sense.c_junction_F) / 2e-15)
    bs_c, _ = block("bit_slice", cols)
    pc_c, _ = block(pc)
    wr, _ = write_row(WriteRowParams(), tech)
    wr_c, _ = leaf_instances(wr.text, wr.name)
    wr_drv = {k: v for k, v in wr_c.items() if k != "buf_8"}  # the row's word-line driver is counted per row below
    wl_per_row = cells.get(p.wl_driver, 0) / len(p.array.words)
    # the reference's own devices by the estimate's rule (its m=cols devices counted cols times)
    netlist = {
        "sense_amps_um2": dev_area(sa_d) + std_area(sa_c),
        "reference_um2": dev_area(ref_d) + std_area(ref_c) + ref_extra,
        "datapath_um2": std_area(bs_c) / utilization,
        "popcount_um2": std_area(pc_c) / utilization,
        "wl_drivers_um2": rows * wl_per_row * lef_area(tech, p.wl_driver) / utilization,
        "write_drivers_um2": std_area(wr_drv) / utilization,
    }
    blocks = {k: {"estimate": est[k], "netlist": v, "diff": est[k] - v} for k, v in netlist.items()}
    used = sorted(set(cells) | set(wr_c))
    return {"blocks": blocks, "cells": {c: {"lef_w_um": tech.stdcell_size_um(c)[0], "lef_h_um": tech.stdcell_size_um(c)[1],
                                             "area_um2": lef_area(tech, c)} for c in used},
            "counts": {"sense_amps": sa_c, "reference": ref_c, "datapath": bs_c, "popcount": pc_c, "write_drivers": wr_drv,
                       "wl_driver_per_row": wl_per_row}}


# ----------------------------------------------------------------------------------------------
# 2. transistor count x pitch


def pitch_area(devices, rules=RULES_UM) -> float:
    """``sum P x (W + S_diff)`` over devices (model, W, L, multiplier) plus the n-well strip when both
    types are present (see the module docstring).  A device longer than minimum adds its extra length."""
    p, s = rules["contacted_poly_pitch"], rules["diff_spacing"]
    n = [(w, l, m) for model, w, l, m in devices if "nfet" in model]
    q = [(w, l, m) for model, w, l, m in devices if "pfet" in model]
    area = sum(m * (p + max(l - 0.15, 0.0)) * (w + s) for w, l, m in n + q)
    if n and q:
        row = max(sum(m for _, _, m in n), sum(m for _, _, m in q)) * p
        area += (rules["nwell_enclosure_pdiff"] + rules["ndiff_to_nwell"]) * row
    return area


def cell_devices(tech, cell: str) -> list[tuple[str, float, float, int]]:
    c = read_cell(tech.stdcell_source_netlist(cell))
    return [(t.model, t.w, t.l, 1) for t in c.transistors]


def rule_on_foundry_cells(tech=None) -> dict[str, dict]:
    """The pitch rule on foundry cells: LEF area / rule area per cell."""
    tech = tech or sky130()
    out = {}
    for cell in FOUNDRY_CHECK_CELLS:
        rule = pitch_area(cell_devices(tech, cell))
        out[cell] = {"lef_um2": lef_area(tech, cell), "rule_um2": rule, "ratio": lef_area(tech, cell) / rule}
    return out


def custom_check(tech=None) -> dict:
    """Custom blocks: the estimate's device area vs the pitch rule (per instance; std cells excluded)."""
    tech = tech or sky130()
    p = BDPEParams()
    top, _ = bdpe(p, tech)
    defs = subckts(top.text)
    sa = next(k for k in defs if k.startswith("sense_amp_"))
    ref = next(k for k in defs if k.startswith("sense_ref_"))
    _, sa_d = leaf_instances(top.text, sa)
    _, ref_d = leaf_instances(top.text, ref)
    cal = rule_on_foundry_cells(tech)
    ratios = [v["ratio"] for v in cal.values()]
    lo, mid, hi = min(ratios), statistics.median(ratios), max(ratios)
    w = p.array.cell.access_w_um
    cell_dev = [("sky130_fd_pr__nfet_01v8", w, p.array.cell.access_l_um, 1)]
    # 1T1R pitch: a column carries a bit line and a source line on met1 (2 tracks), a row one gate
    # with a drain contact (the RRAM via) and a source contact shared with the mirrored neighbour
    col_pitch = max(w + RULES_UM["diff_spacing"], 2 * RULES_UM["met1_pitch"])
    row_pitch = 1.5 * RULES_UM["contacted_poly_pitch"]
    blocks = {
        "sense_amp (devices, per column)": (sum(_device_area_um2(wd, ld, m) for _, wd, ld, m in sa_d), pitch_area(sa_d)),
        "reference (devices, all columns)": (sum(_device_area_um2(wd, ld, m) for _, wd, ld, m in ref_d), pitch_area(ref_d)),
        "1T1R cell": (area_estimate(p, tech)["cell_um2"], col_pitch * row_pitch),
    }
    out = {}
    for name, (estimate, rule) in blocks.items():
        out[name] = {"estimate_um2": estimate, "rule_um2": rule, "rule_x_median_um2": rule * mid,
                     "rule_range_um2": (rule * lo, rule * hi), "estimate_over_rule_x_median": estimate / (rule * mid),
                     "transistors": sum(m for *_, m in (sa_d if name.startswith("sense") else ref_d if name.startswith("ref")
                                                         else cell_dev))}
    return {"blocks": out, "foundry_ratio": {"min": lo, "median": mid, "max": hi}, "rule_on_foundry_cells": cal,
            "rules_um": RULES_UM}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    tech = sky130()
    f, c = foundry_check(tech), custom_check(tech)
    if args.json:
        print(json.dumps({"foundry": f, "custom": c}, indent=1, default=float))
        return 0
    print("1. foundry cells: LEF sizes (um)")
    for cell, v in f["cells"].items():
        print(f"   {cell:8s} {v['lef_w_um']:5.2f} x {v['lef_h_um']:.2f} = {v['area_um2']:8.4f} um^2")
    print("   blocks: area_estimate vs the same rules on the cells/devices the netlists instantiate (um^2)")
    for k, v in f["blocks"].items():
        print(f"   {k:18s} estimate {v['estimate']:10.2f}   netlist {v['netlist']:10.2f}   diff {v['diff']:+9.3f}")
    print("   counts:", json.dumps(f["counts"]))
    r = c["foundry_ratio"]
    print(f"2. transistor count x contacted pitch (rules, um: {json.dumps(c['rules_um'])})")
    print(f"   the rule on {len(c['rule_on_foundry_cells'])} foundry cells: LEF / rule = {r['min']:.2f} .. {r['max']:.2f} "
          f"(median {r['median']:.2f})")
    for cell, v in c["rule_on_foundry_cells"].items():
        print(f"      {cell:8s} LEF {v['lef_um2']:7.3f}  rule {v['rule_um2']:7.3f}  x{v['ratio']:.2f}")
    for k, v in c["blocks"].items():
        lo, hi = v["rule_range_um2"]
        print(f"   {k:34s} {v['transistors']:4d} devices  estimate {v['estimate_um2']:8.2f}  rule {v['rule_um2']:8.2f}  "
              f"rule x median {v['rule_x_median_um2']:8.2f} (range {lo:.2f} .. {hi:.2f})  "
              f"estimate / (rule x median) {v['estimate_over_rule_x_median']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
