"""Per-technology design values of the BDPE: 1T1R access device, array wiring, sense amplifier and
control windows.  SKY130 keeps the defaults of :mod:`circuits.bdpe` (``EngineDesign()`` changes
nothing, so its decks stay byte-identical); FreePDK45 re-sizes what a 45 nm engine needs.

FreePDK45 (every number below is a FreePDK45 number; SKY130's in brackets):

* **1T1R cell.** Access NMOS (VTG, 1.1 V core device) W = 0.415 um, L = 0.05 um: the Nangate45 X1
  NMOS width [SKY130 nfet_01v8 W = 1 um, L = 0.15 um].  It reads correctly at every corner (the
  LRS read resistance is 37 kOhm at 0.2 V; its on-resistance was not characterised separately); the RRAM (Stanford-PKU
  ``sky130-1t1r`` set) is the same device in both technologies - it sits in the back end, its
  parameters do not depend on the transistor node.
* **Array wiring per cell**, from a 45 nm metal-1 (Nangate45/FreePDK45 LEF: 0.38 ohm/sq, 0.07 um
  minimum width) and a cell of two contacted poly pitches (2 x 0.19 = 0.38 um) along the bit line
  by ``W + 0.19 = 0.6 um`` along the word line [SKY130: 0.92 x 1.5 um, 0.125 ohm/sq, 0.14 um]:
  bit/source line 0.38 ohm/sq x 0.38 / 0.07 = 2.06 ohm and 0.38 um x 0.2 fF/um = 0.076 fF per cell;
  word line 0.38 x 0.6 / 0.07 = 3.26 ohm and 0.12 fF per cell.  0.2 fF/um is the total (ground +
  neighbours) capacitance of a minimum-pitch line, the same per-length figure as SKY130's: wire
  capacitance per um barely scales with the node.
* **Bit-line junction** seen through every LRS cell (sizes the replica column): the access drain
  of W = 0.415 um with 0.1 um of diffusion, from the FreePDK45 card's CJ 0.5 fF/um^2, CJSW 0.5 fF/um
  and CJSWG 0.5 fF/um at ~0.2 V reverse bias: ~0.45 fF [SKY130 0.4 fF].  With 128 rows the bit line is
  ~68 fF [~75 fF]: the same discharge rate (~70 mV/ns per 5 uA LRS cell), so the sense window cannot
  shrink much with the node: the read current is set by the RRAM, not by the transistor.
* **Sense amplifier**: same topology at L = 50 nm; the precharge switches and the latch's
  cross-coupled and reset devices x 0.64 (0.415 / 0.65, the ratio of the two technologies' unit
  NMOS widths); the PMOS input pair and the tail 0.5 um [2 um and 1 um].  The input pair is
  narrowed for kick-back: 45 nm gate oxide has ~3x SKY130's capacitance per area, and with a
  1.28 um pair the firing latch pulled the bit line up by 21 mV in 20 ps (sense-xnor, tt: the LRS
  read with 24 mV of margin resolved the wrong way).  At 0.5 um it kicks ~8 mV.
* **Windows**: precharge release ``t_pre`` 0.15 ns after the word line (the 64-column word line's RC
  and the buf_8 are ~5x faster) [0.3 ns]; ``t_sense`` 1.0 ns [1.2 ns]: the bit-line slew is the
  same as in SKY130 (the read current is the RRAM's), so the window shrinks only a little, with
  ~28 mV of margin at tt (sense-xnor); the popcount (17 full-adder levels) settles in ~0.3 ns at
  tt (popcount testbench), so ``t_eval`` 1.5 ns and ``t_register`` 1.5 ns leave room for ss
  [5 ns, 4 ns]; ``t_reset`` 0.15 ns [0.3 ns].
* **Write path**: the SKY130 circuit (per column an and2_4 bit-line and source-line driver, buf_8
  word-line driver: SET where D = 1, RESET where D = 0, one pulse) with generated 45 nm cells at
  1.1 V and the core access device above.  The core device does RESET the cell: the source-follower
  case (SL high) still leaves enough voltage across the RRAM.  Single cell, ideal drivers
  (``rram-reset access=nmos access_technology=freepdk45 nmos_w_um=0.415``, width 100 ns): RESET in
  33.6 ns at 1.1 V (12.4 ns at the 1.21 V limit), SET in 0.57 ns; whole 64-bit word through the
  drivers and the 128-row array (``program-word``, every cell switching): 35.8 / 46.5 / 28.1 ns at
  tt / ss / ff, ~0.44 nJ per word with a 100 ns pulse [SKY130 50 ns].  Hence ``t_write`` 100 ns:
  ss leaves 54 % slack.  A thick-oxide access device (NMOS_THKOX, L 0.25 um, 2.5 V word line and
  pulse) does not RESET at all within 100 ns (W 0.415 and 1 um): its ~1.5 V threshold plus the
  source follower leave too little across the device.
* **Early precharge** ``t_hold`` 0.4 ns [none: the word line and the precharge wait for the end of
  the window]: 0.4 ns after sense enable the word line falls and the bit line is precharged again
  while the latch holds its decision.  Without it the engine failed with an HRS background: a
  column whose unselected cells are HRS has ~10 fF of bit line (the access junctions hide behind
  R_off), an LRS read pulls it ~120 mV low for the whole evaluation window, the drain nodes behind
  the 127 unselected HRS cells follow it down (tau = R_off x 0.5 fF ~ 1.9 ns at window 100) and
  recharge through R_off during the next read, which then discharges like an LRS read (sense-xnor,
  tt, HRS background, windows 50 / 100 / 270: margins -7.6 / -17.6 / -1.2 mV, wrong decisions).
  A high-threshold (VTH) access device, the other candidate, moved them only to -5.0 / -14.3 /
  +3.5 mV: the leak is this recharge, not the unselected devices' sub-threshold current.  With 0.4 ns: all 30
  (window 3-270, both backgrounds, tt/ss/ff) decided correctly, smallest HRS margin 5.8 mV (ff,
  window 100, HRS background).  0.2 ns is too short at ff: with 19 mV of margin and the kick-back
  of a light bit line the latch had not resolved when the bit line was precharged again (window 3).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

from .bdpe import BDPEParams, SenseParams, area_estimate
from .technology import Technology

__all__ = ["EngineDesign", "engine_design", "engine_params", "engine_area_um2", "AREA_RULES_45NM"]


@dataclass(frozen=True)
class EngineDesign:
    """Overrides of the :mod:`circuits.bdpe` defaults for one technology (empty: the defaults)."""

    cell: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    array: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    sense: SenseParams = SenseParams()
    timing: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    t_write: float = 50e-9  # s, program-enable pulse of program-word
    write_method: str = "gear"  # integration method of the program-word deck (at reltol 1e-5)
    doc: str = ""


_S = 0.415 / 0.65  # unit NMOS width ratio FreePDK45 / SKY130

_DESIGNS = {
    "sky130": EngineDesign(doc="circuits.bdpe defaults (SKY130)"),
    "freepdk45": EngineDesign(
        cell=MappingProxyType({"access_w_um": 0.415, "access_l_um": 0.05}),
        array=MappingProxyType({"r_bl_per_cell_ohm": 2.06, "c_bl_per_cell_F": 0.076e-15,
                                "r_sl_per_cell_ohm": 2.06, "c_sl_per_cell_F": 0.076e-15,
                                "r_wl_per_cell_ohm": 3.26, "c_wl_per_cell_F": 0.12e-15}),
        sense=SenseParams(pre_w_um=round(1.0 * _S, 3), pre_p_w_um=round(1.0 * _S, 3), latch_in_w_um=0.5,
                          latch_tail_w_um=0.5, latch_p_w_um=round(1.0 * _S, 3),
                          latch_n_w_um=round(0.5 * _S, 3), latch_reset_w_um=round(0.5 * _S, 3), c_junction_F=0.45e-15),
        timing=MappingProxyType({"t_pre": 0.15e-9, "t_sense": 1.0e-9, "t_eval": 1.5e-9, "t_reset": 0.15e-9,
                                 "t_register": 1.5e-9, "t_hold": 0.4e-9}),
        t_write=100e-9, write_method="trap",
        doc="FreePDK45 BDPE: access NMOS 0.415/0.05 um, 45 nm M1 array wiring, sense amplifier x0.64 (input pair and tail 0.5 um), windows "
            "t_pre 0.15 / t_sense 1.0 / t_eval 1.5 / t_register 1.5 ns, word line off and precharge on 0.4 ns after sense "
            "enable (circuits.engine_design)"),
}


def engine_design(tech: Technology) -> EngineDesign:
    """The BDPE design values of ``tech`` (the :mod:`circuits.bdpe` defaults for SKY130)."""
    return _DESIGNS.get(tech.name, _DESIGNS["sky130"])


def engine_params(tech: Technology, words: tuple[int, ...] = (0,), rows: int = 128, read_path: bool = True) -> BDPEParams:
    """The whole engine of ``tech`` (its :func:`engine_design`) holding ``words`` in the rows read."""
    from .bdpe import ArrayParams, CellParams
    d = engine_design(tech)
    return BDPEParams(array=ArrayParams(rows=rows, words=words, cell=CellParams(**d.cell), **d.array), sense=d.sense,
                      read_path=read_path)


# FreePDK45 area rules of the estimate (um): a custom transistor is (W + 0.19) x (L + 2 x 0.19) -
# its gate plus a contacted diffusion on each side at the 0.19 um contacted poly pitch (SKY130's
# estimate uses 0.5 / 0.5 um at its 0.46 um pitch); the 1T1R cell is (W + 0.19) x 0.38 um (two poly
# pitches; the RRAM sits on a via above the drain); the reference resistor 5 um^2 (poly, scaled
# from SKY130's 20 um^2 by the pitch ratio squared, ~0.17, rounded up); the replica bit-line
# capacitance a MIM capacitor at 2 fF/um^2 as in SKY130; generated cells at their cellgen footprint
# (Nangate45 pitch and row) / 0.7 utilisation.
AREA_RULES_45NM = MappingProxyType({"device_w_extra_um": 0.19, "device_l_extra_um": 0.38, "cell_height_um": 0.38,
                                    "reference_resistor_um2": 5.0, "mim_F_per_um2": 2e-15})


def engine_area_um2(p: BDPEParams, tech: Technology, utilization: float = 0.7) -> dict:
    """Area of the engine by block (um^2): :func:`circuits.bdpe.area_estimate` for SKY130; for
    FreePDK45 the same blocks with :data:`AREA_RULES_45NM` and the generated cells' footprints."""
    if tech.name != "freepdk45":
        return area_estimate(p, tech, utilization)
    return area_estimate(p, tech, utilization, rules=AREA_RULES_45NM)
