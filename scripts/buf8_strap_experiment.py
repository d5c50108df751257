"""Experiment for the held-out buf_8 (issue 18, item 4): does the li1 resistance of a multi-finger
output pin, computed from the cell's own LEF geometry, explain why our buf_8 is faster than its
Liberty table at heavy loads?  Nothing here is fitted, and nothing is adopted by circuits.parasitics
(SKY130_HD stays as it is): the script derives strapped copies of the estimated cell netlists in
this process only and compares every facts-sheet arc with the Liberty table, with and without them.

    .venv/bin/python scripts/buf8_strap_experiment.py                  # all six facts-sheet cells
    .venv/bin/python scripts/buf8_strap_experiment.py --cells buf_8    # the held-out cell alone
    .venv/bin/python scripts/buf8_strap_experiment.py --resistances    # only the strap resistances

Model: a multi-finger output stage collects its drains on li1 (buf_8: two 2.7 um straps joined at
one end); li1 is 12.8 ohm/sq (the technology LEF), so the far fingers see tens of ohms more than
the near ones -- comparable with the 0.5-1 kOhm of buf_8's output stage, negligible for a
single-finger cell.  Estimate: rasterise the pin's li1 rectangles (LEF PORT shapes, 5 nm grid),
take the pixels over the lower half of the n diffusion (sky130_fd_sc_hd: from y = 0.235 um) and the
upper half of the p diffusion (to y = 2.485 um) as the drain contacts, and compute the resistance
between those contacts (shorted) and a 0.17 um access square, averaged over 12 access squares
spread over the pin (a router may connect anywhere).  The n- and p-device terminals on the pin move
to nodes ``<pin>_sn`` / ``<pin>_sp`` behind those resistances.  Contact (licon) resistance is not
included (not in the files at hand).
"""
from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import calibrate_parasitics as cal  # noqa: E402
from circuits import parasitics  # noqa: E402
from circuits.cell_netlist import CellNetlist, read_cell  # noqa: E402
from circuits.parasitics import SKY130_HD, ParasiticModel  # noqa: E402
from characterize.runtime import SimulationPool  # noqa: E402
from circuits.technology import sky130  # noqa: E402

LI1_OHM_PER_SQ = 12.8  # sky130_fd_sc_hd__nom.tlef, LAYER li1 RESISTANCE RPERSQ


_STRAP_GRID_UM = 0.005
_N_DIFF_Y0_UM, _P_DIFF_Y1_UM = 0.235, 2.485


def _lef_pin_rects(lef: Path, pin: str, layer: str = "li1") -> list[tuple[float, float, float, float]]:
    text = lef.read_text()
    match = re.search(rf"^\s*PIN\s+{re.escape(pin)}\s*$(.*?)^\s*END\s+{re.escape(pin)}\s*$", text, flags=re.M | re.S)
    rects, current = [], None
    for line in (match.group(1) if match else "").splitlines():
        tokens = line.split()
        if tokens[:1] == ["LAYER"]:
            current = tokens[1]
        elif tokens[:1] == ["RECT"] and current == layer:
            rects.append(tuple(float(v) for v in tokens[1:5]))
    return rects


def pin_strap_resistances(lef: Path, pin: str, ohm_per_sq: float, w_n_um: float, w_p_um: float,
                          ports: int = 12) -> tuple[float, float]:
    """(R to the n-device drains, R to the p-device drains) of output ``pin`` in ohm (see above);
    NaN for a side with no contact pixels."""
    import numpy as np
    import scipy.sparse as sp
    import scipy.sparse.linalg as spl

    rects = _lef_pin_rects(lef, pin)
    if not rects:
        return float("nan"), float("nan")
    step = _STRAP_GRID_UM
    x0, y0 = min(r[0] for r in rects), min(r[1] for r in rects)
    nx = int(round((max(r[2] for r in rects) - x0) / step))
    ny = int(round((max(r[3] for r in rects) - y0) / step))
    mask = np.zeros((nx, ny), bool)
    for a, b, c, d in rects:
        mask[int(round((a - x0) / step)):int(round((c - x0) / step)), int(round((b - y0) / step)):int(round((d - y0) / step))] = True
    xs = x0 + (np.arange(nx) + 0.5) * step
    ys = y0 + (np.arange(ny) + 0.5) * step
    X, Y = np.meshgrid(xs, ys, indexing="ij")
    idx = -np.ones(mask.shape, int)
    idx[mask] = np.arange(mask.sum())
    n = int(mask.sum())
    rows, cols, vals = [], [], []
    for dx, dy in ((1, 0), (0, 1)):
        both = mask[:nx - dx, :ny - dy] & mask[dx:, dy:]
        i, j = idx[:nx - dx, :ny - dy][both], idx[dx:, dy:][both]
        g = np.full(len(i), 1.0 / ohm_per_sq)
        rows += [i, j, i, j]
        cols += [i, j, j, i]
        vals += [g, g, -g, -g]
    G = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))
    taps = {"n": mask & (Y < _N_DIFF_Y0_UM + 0.5 * w_n_um), "p": mask & (Y > _P_DIFF_Y1_UM - 0.5 * w_p_um)}
    pixels = np.argwhere(mask)
    picks = pixels[np.linspace(0, len(pixels) - 1, ports).astype(int)]
    out = []
    for side in ("n", "p"):
        tap = idx[taps[side]]
        if not len(tap):
            out.append(float("nan"))
            continue
        rs = []
        for px, py in picks:
            port = idx[mask & (np.abs(X - X[px, py]) < 0.085) & (np.abs(Y - Y[px, py]) < 0.085)]
            port = np.setdiff1d(port, tap)
            if not len(port):
                continue
            fixed = np.zeros(n, bool)
            fixed[tap] = fixed[port] = True
            v = np.zeros(n)
            v[tap] = 1.0
            free = ~fixed
            v[free] = spl.spsolve(G[free][:, free].tocsc(), -(G[free][:, fixed] @ v[fixed]))
            rs.append(1.0 / float((G[tap] @ v).sum()))
        out.append(float(np.mean(rs)) if rs else 0.0)
    return out[0], out[1]


def straps(cell: CellNetlist, path: Path, model: ParasiticModel, ohm_per_sq: float = LI1_OHM_PER_SQ) -> dict[tuple[str, str], float]:
    """(output pin, ``n``/``p``) -> strap resistance (ohm) of the cell netlist in ``path``."""
    lef = path.with_suffix(".lef")
    sds = {net for t in cell.transistors for net in (t.drain, t.source)}
    out = {}
    for pin in cell.pins:
        if pin in model.supply_pins or pin not in sds or not lef.is_file():
            continue
        scale = model.unit_m / 1e-6
        w_n = max((t.w * scale for t in cell.transistors if t.kind == "n" and pin in (t.drain, t.source)), default=0.0)
        w_p = max((t.w * scale for t in cell.transistors if t.kind == "p" and pin in (t.drain, t.source)), default=0.0)
        r_n, r_p = pin_strap_resistances(lef, pin, ohm_per_sq, w_n, w_p)
        for kind, r in (("n", r_n), ("p", r_p)):
            if r == r and r > 0:
                out[(pin, kind)] = r
    return out


def _strap_nets(line: str, cell: CellNetlist, straps: dict[tuple[str, str], float]) -> str:
    """A device line with its drain/source on a strapped pin moved behind the strap."""
    tokens = line.split()
    if not straps or not tokens:
        return line
    device = next((t for t in cell.transistors if t.name == tokens[0]), None)
    if device is None:
        return line
    for k in (1, 3):
        if (tokens[k], device.kind) in straps:
            tokens[k] = f"{tokens[k]}_s{device.kind}"
    return " ".join(tokens)


_original = parasitics.parasitic_netlist


def strapped_netlist(path: Path, model: ParasiticModel, width_um: float) -> Path:
    """The estimated netlist of ``path`` with its output pins behind their strap resistances
    (written to /tmp, named by content)."""
    import hashlib

    text = Path(_original(path, model, width_um)).read_text()
    cell = read_cell(Path(path))
    found = straps(cell, Path(path), model)
    out = []
    for line in text.splitlines():
        if line.strip().lower().startswith(".ends"):
            out += [f"Rstrap{i} {pin}_s{kind} {pin} {r:.6g}" for i, ((pin, kind), r) in enumerate(found.items())]
        out.append(_strap_nets(line, cell, found))
    new = "\n".join(out) + "\n"
    target = Path("/tmp") / f"{Path(path).stem}-strap-{hashlib.sha256(new.encode()).hexdigest()[:16]}.spice"
    if not target.is_file():
        target.write_text(new)
    return target


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", nargs="+", default=list(cal.CALIBRATION + cal.HELD_OUT))
    ap.add_argument("--resistances", action="store_true", help="print the strap resistances only (no simulation)")
    args = ap.parse_args(argv)
    tech = sky130()
    for cell in args.cells:
        path = tech.stdcell_source_netlist(cell)
        found = straps(read_cell(path), path, SKY130_HD)
        print(f"{cell:8s} " + "  ".join(f"{pin}/{kind} {r:6.1f} ohm" for (pin, kind), r in found.items()))
    if args.resistances:
        return 0
    points = cal.grid(args.cells)
    t0 = time.perf_counter()
    with SimulationPool(1) as pool:
        base = cal.simulate(pool, points, SKY130_HD)
        parasitics.parasitic_netlist = strapped_netlist
        try:
            strapped = cal.simulate(pool, points, SKY130_HD)
        finally:
            parasitics.parasitic_netlist = _original
    print("SKY130_HD as it is:")
    print("\n".join(cal.table(points, base)))
    print("with the li1 output-pin straps (not adopted):")
    print("\n".join(cal.table(points, strapped)))
    print(f"({time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
