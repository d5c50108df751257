"""Fit the wiring constants of :mod:`circuits.parasitics` to the PDK's Liberty data, and show the
residuals of every arc of the facts-sheet cells.

    .venv/bin/python scripts/calibrate_parasitics.py                 # fit, then compare all cells
    .venv/bin/python scripts/calibrate_parasitics.py --check-only    # compare with SKY130_HD as is
    .venv/bin/python scripts/calibrate_parasitics.py --check-only --parasitics none
    .venv/bin/python scripts/calibrate_parasitics.py --model layout [--check-only]   # SKY130_HD_LAYOUT

Reference: tests/data/sky130_hd_liberty_tt_025C_1v80.json (cell_rise / cell_fall of inv_1, fa_1,
ha_1, and2_4, buf_8 and nand2_1 at input transitions 1/3/5 x loads 1/3/5 of their tables, and their
pin capacitances; numbers from the project's facts sheet).  Every point is one ``cell-arc`` run (tt,
25 C, 1.8 V; a non-unate Liberty arc is compared with ``sense=positive`` / ``negative``), one worker.

The fit uses the CALIBRATION cells only (circuits.parasitics.CALIBRATION_CELLS: fa_1, and2_4,
nand2_1); the HELD_OUT cells (inv_1, ha_1, buf_8) are simulated only to be compared.  The junction
geometry is fixed by layout rules.  First the two input-pin constants (pin_net_F, pin_gate_F_per_um)
>= 0: a least-squares fit of the Liberty pin capacitances, linear in them (non-negative least
squares).  Then the three internal-net constants theta = (wire_net_F, wire_gate_F, wire_sd_F) >= 0
minimise the largest |log(delay / Liberty)| over every rise and fall delay of every arc at the 9
grid points (minimax: the acceptance criterion bounds the worst point).  Each iteration simulates
the grid at theta and at theta + 0.2 fF in each constant (finite differences), solves the
linearised minimax problem as a linear programme (scipy.optimize.linprog) and steps there.

The run the constants of circuits.parasitics.SKY130_HD come from (``--iterations 2 --start-fF
0.0356 0.615 0``, 524 s on one worker of a shared 2-core machine):

    pin capacitance fit: pin_net_F=1.203e-16, pin_gate_F_per_um=4.217e-17
    (pin capacitance / Liberty: calibration 0.967-1.055, held out 0.947-1.008)
    iteration 1: worst |log ratio| before 0.0831; theta -> wire_net_F=0.0362 fF, wire_gate_F=0.6172 fF, wire_sd_F=0.0000 fF
    iteration 2: worst |log ratio| before 0.0820; theta -> wire_net_F=0.0362 fF, wire_gate_F=0.6171 fF, wire_sd_F=0.0000 fF
    model: wire_net_F=3.618e-17, wire_gate_F=6.171e-16, wire_sd_F=0, pin_net_F=1.203e-16, pin_gate_F_per_um=4.217e-17
    calibration: worst |ratio - 1| = 0.085 over 234 delays
    held out: worst |ratio - 1| = 0.188 over 144 delays (inv_1 0.104, ha_1 0.141, buf_8 0.188)

(the per-arc table that follows it is what ``--check-only`` prints.)

The run the constants of circuits.parasitics.SKY130_HD_LAYOUT come from (``--model layout
--iterations 2 --start-fF 0 0.45 0``; junctions, stress distances and contact resistances read
from the cells' layouts, only the wiring fitted; 333 s):

    pin capacitance fit: pin_net_F=1.189e-16, pin_gate_F_per_um=4.226e-17
    iteration 1: worst |log ratio| before 0.1184; theta -> wire_net_F=0.0000 fF, wire_gate_F=0.4039 fF, wire_sd_F=0.0000 fF
    iteration 2: worst |log ratio| before 0.1197; theta -> wire_net_F=0.0000 fF, wire_gate_F=0.4068 fF, wire_sd_F=0.0000 fF
    calibration: worst |ratio - 1| = 0.126 over 234 delays   (nand2_1 0.945-1.126; fa_1 0.888-1.083; and2_4 0.979-1.043)
    held out: worst |ratio - 1| = 0.157 over 144 delays      (inv_1 0.915-1.157; ha_1 0.981-1.108; buf_8 0.897-0.994)
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np
from scipy.optimize import linprog, nnls

from characterize.cell_testbenches import CELL_ARC, CellArcTB
from characterize.runtime import SimulationPool
from characterize.testbench import finish_point
from circuits.cell_netlist import read_cell
from circuits.parasitics import (CALIBRATION_CELLS, HELD_OUT_CELLS, SKY130_HD, SKY130_HD_LAYOUT, ParasiticModel,
                                 wire_capacitances)
from circuits.technology import sky130

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "tests" / "data" / "sky130_hd_liberty_tt_025C_1v80.json"
CALIBRATION = CALIBRATION_CELLS
HELD_OUT = HELD_OUT_CELLS
CONSTANTS = ("wire_net_F", "wire_gate_F", "wire_sd_F")
STEPS = (0.2e-15, 0.2e-15, 0.2e-15)  # finite-difference steps of the constants (F)
PIN_CONSTANTS = ("pin_net_F", "pin_gate_F_per_um")


def reference() -> dict:
    return json.loads(REFERENCE.read_text())["cells"]


def grid(cells) -> list[tuple[str, dict, int, int]]:
    """(cell, Liberty arc, slew index, load index) of every point of every arc of ``cells``."""
    ref = reference()
    return [(cell, arc, i, j) for cell in cells for arc in ref[cell]["arcs"]
            for i in range(len(arc["slew_ps"])) for j in range(len(arc["load_fF"]))]


def point_params(cell: str, arc: dict, i: int, j: int, parasitics: str = "estimated") -> CellArcTB:
    return CellArcTB(cell=cell, pin=arc["pin"], output=arc["output"], sense=arc["sense"],
                     slew_s=arc["slew_ps"][i] * 1e-12, load_F=arc["load_fF"][j] * 1e-15, parasitics=parasitics)


def simulate(pool: SimulationPool, points, model: ParasiticModel, parasitics: str = "estimated") -> np.ndarray:
    """Delays (s), shape (points, 2): output rise, output fall."""
    tech = _with_model(model, parasitics)
    params = [point_params(*pt, parasitics=parasitics) for pt in points]
    results = pool.map([CELL_ARC.build(p, tech) for p in params])
    out = np.full((len(points), 2), np.nan)
    for k, (p, r) in enumerate(zip(params, results)):
        entry = finish_point(CELL_ARC, p, r)
        if entry["status"]:
            raise RuntimeError(f"{p.cell} {p.pin}->{p.output} point {k}: {entry['message']}")
        out[k] = entry["metrics"]["delay_rise_s"], entry["metrics"]["delay_fall_s"]
    return out


def _with_model(model: ParasiticModel, parasitics: str):
    """SKY130 with ``model`` as the parasitic model of mode ``parasitics``."""
    field = "layout_parasitic_model" if parasitics == "layout" else "parasitic_model"
    return dataclasses.replace(sky130(), **{field: model})


def liberty(points) -> np.ndarray:
    return np.array([[arc["cell_rise_ps"][i][j], arc["cell_fall_ps"][i][j]] for _, arc, i, j in points]) * 1e-12


def with_theta(theta: np.ndarray, model: ParasiticModel = SKY130_HD) -> ParasiticModel:
    return dataclasses.replace(model, **{name: float(v) for name, v in zip(CONSTANTS, theta)})


def minimax_step(r0: np.ndarray, jac: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """theta + d minimising max |r0 + jac d| subject to theta + d >= 0: a linear programme in
    (d, t), minimise t with -t <= r0 + jac d <= t (solved in fF, for the solver's scaling)."""
    n = jac.shape[1]
    jac_ff = jac * 1e-15
    cost = np.r_[np.zeros(n), 1.0]
    ones = np.ones((len(r0), 1))
    a_ub = np.vstack([np.hstack([jac_ff, -ones]), np.hstack([-jac_ff, -ones])])
    b_ub = np.r_[-r0, r0]
    bounds = [(-t * 1e15, None) for t in theta] + [(0, None)]
    sol = linprog(cost, A_ub=a_ub, b_ub=b_ub, bounds=bounds, method="highs")
    if not sol.success:
        raise RuntimeError(f"linear programme failed: {sol.message}")
    return theta + sol.x[:n] * 1e-15


def fit(pool: SimulationPool, cells, theta: np.ndarray, iterations: int, model: ParasiticModel,
        mode: str = "estimated") -> np.ndarray:
    points = grid(cells)
    target = np.log(liberty(points)).ravel()
    for it in range(iterations):
        base = np.log(simulate(pool, points, with_theta(theta, model), mode)).ravel()
        jac = np.empty((base.size, len(theta)))
        for k in range(len(theta)):
            bumped = theta.copy()
            bumped[k] += STEPS[k]
            jac[:, k] = (np.log(simulate(pool, points, with_theta(bumped, model), mode)).ravel() - base) / STEPS[k]
        r0 = base - target
        theta = minimax_step(r0, jac, theta)
        print(f"iteration {it + 1}: worst |log ratio| before {np.max(np.abs(r0)):.4f}; "
              f"theta -> {', '.join(f'{n}={v * 1e15:.4f} fF' for n, v in zip(CONSTANTS, theta))}", flush=True)
    return theta


def pin_points(cells) -> list[tuple[str, dict, int, int]]:
    """One point per input pin (the centre of the grid of the pin's first Liberty arc)."""
    ref = reference()
    out = []
    for cell in cells:
        for pin in ref[cell]["input_cap_fF"]:
            arc = next(a for a in ref[cell]["arcs"] if a["pin"] == pin)
            out.append((cell, arc, 1, 1))
    return out


def pin_regressor(cell: str, pin: str) -> float:
    """(gates on the pin) x (cell width in um): what pin_gate_F_per_um multiplies."""
    tech = sky130()
    unit = dataclasses.replace(SKY130_HD, pin_net_F=0.0, pin_gate_F_per_um=1.0)
    return wire_capacitances(read_cell(tech.stdcell_source_netlist(cell)), unit, tech.stdcell_size_um(cell)[0])[pin]


def fit_pins(pool: SimulationPool, model: ParasiticModel, mode: str = "estimated") -> tuple[ParasiticModel, list[str]]:
    """Fit (pin_net_F, pin_gate_F_per_um) >= 0 to the Liberty pin capacitances of the calibration
    cells: a pin's wiring adds to the charge its ideal driver delivers, so the capacitance measured
    without pin wiring plus the model is linear in the two constants (non-negative least squares)."""
    bare = dataclasses.replace(model, pin_net_F=0.0, pin_gate_F_per_um=0.0)
    points = pin_points(CALIBRATION + HELD_OUT)
    tech = _with_model(bare, mode)
    params = [point_params(*pt, parasitics=mode) for pt in points]
    measured = np.array([finish_point(CELL_ARC, p, r)["metrics"]["input_cap_F"]
                         for p, r in zip(params, pool.map([CELL_ARC.build(p, tech) for p in params]))])
    target = np.array([reference()[c]["input_cap_fF"][a["pin"]] * 1e-15 for c, a, _, _ in points])
    x = np.array([[1.0, pin_regressor(c, a["pin"])] for c, a, _, _ in points])
    cal = np.array([c in CALIBRATION for c, _, _, _ in points])
    coef, _ = nnls(x[cal], (target - measured)[cal] * 1e15)  # fF and fF/um
    fitted = dataclasses.replace(model, pin_net_F=coef[0] * 1e-15, pin_gate_F_per_um=coef[1] * 1e-15)
    lines = [f"pin capacitance fit: pin_net_F={fitted.pin_net_F:.4g}, pin_gate_F_per_um={fitted.pin_gate_F_per_um:.4g}",
             f"{'cell':8s} {'pin':4s} {'Liberty fF':>10s} {'no wire':>8s} {'model':>8s} {'ratio':>6s}  set"]
    for (c, a, _, _), m, t, xi in zip(points, measured, target, x):
        ours = m + xi @ coef * 1e-15
        kind = "calibration" if c in CALIBRATION else "held out"
        lines.append(f"{c:8s} {a['pin']:4s} {t * 1e15:10.3f} {m * 1e15:8.3f} {ours * 1e15:8.3f} {ours / t:6.3f}  {kind}")
    return fitted, lines


def table(points, delays: np.ndarray) -> list[str]:
    """One line per arc: min-max of our delay / Liberty over the grid, rise and fall."""
    ratio = delays / liberty(points)
    rows: dict[tuple, list[int]] = {}
    for k, (cell, arc, _i, _j) in enumerate(points):
        rows.setdefault((cell, arc["pin"], arc["output"], arc["sense"]), []).append(k)
    lines = [f"{'cell':8s} {'arc':12s} {'sense':8s} {'rise min-max':>14s} {'fall min-max':>14s}  set"]
    for (cell, pin, output, sense), ks in rows.items():
        rise, fall = ratio[ks, 0], ratio[ks, 1]
        kind = "calibration" if cell in CALIBRATION else "held out" if cell in HELD_OUT else ""
        lines.append(f"{cell:8s} {pin + '->' + output:12s} {sense:8s} {rise.min():6.3f}-{rise.max():6.3f} "
                     f"{fall.min():6.3f}-{fall.max():6.3f}  {kind}")
    for name, cells in (("calibration", CALIBRATION), ("held out", HELD_OUT)):
        ks = [k for k, pt in enumerate(points) if pt[0] in cells]
        if ks:
            worst = np.max(np.abs(ratio[ks] - 1))
            lines.append(f"{name}: worst |ratio - 1| = {worst:.3f} over {2 * len(ks)} delays")
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check-only", action="store_true", help="no fit: compare with SKY130_HD as it is")
    parser.add_argument("--parasitics", choices=("estimated", "none"), default="estimated",
                        help="none: compare the netlists as shipped (no model)")
    parser.add_argument("--model", choices=("estimated", "layout"), default="estimated",
                        help="which model to fit or check: SKY130_HD (estimated) or SKY130_HD_LAYOUT (layout)")
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--start-fF", type=float, nargs=3, default=(0.1, 0.5, 0.05), metavar=("NET", "GATE", "SD"))
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    model = SKY130_HD_LAYOUT if args.model == "layout" else SKY130_HD
    mode = "none" if args.parasitics == "none" else args.model
    with SimulationPool(1) as pool:
        if not args.check_only:
            model, pin_lines = fit_pins(pool, model, args.model)
            print("\n".join(pin_lines), flush=True)
            theta = fit(pool, CALIBRATION, np.array(args.start_fF) * 1e-15, args.iterations, model, args.model)
            model = with_theta(theta, model)
        points = grid(CALIBRATION + HELD_OUT)
        delays = simulate(pool, points, model, mode)
    print(f"parasitics={mode}; model: "
          + ", ".join(f"{n}={getattr(model, n):.4g}" for n in CONSTANTS + PIN_CONSTANTS))
    print("\n".join(table(points, delays)))
    print(f"({time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
