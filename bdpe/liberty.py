"""``bdpe export liberty``: the BDPE as one macro cell in a Liberty library per operating point.

The cell (``bdpe``) and its pins, as the transistor-level engine (``circuits.bdpe.bdpe`` and
``write_row``) has them - it has no clock: a controller sequences each operation with the word-line
enable, the precharge and the sense enable (``characterize.bdpe_testbenches.BDPETiming``):

* ``wl_en[ROWS-1:0]`` word-line enables, one per row, active high (no row decoder in the engine: the
  row read or programmed is selected one-hot). The RRAM-path arc starts at its rising edge.
* ``pre`` bit-line precharge (high: bit lines held at the read rail, the idle state), ``sae`` sense
  amplifier enable (the latches resolve on its rising edge), ``sel`` path select (0: RRAM path, the
  paper's CHK hit; 1: register path, DPM).
* ``stored_word[63:0]`` the register operand (used when ``sel`` = 1), ``input_word[63:0]`` the input
  word XNORed with the stored word (register operand or RRAM row), ``result[6:0]`` the popcount
  of the XNOR (0..64).
* ``prog_en`` program enable and ``write_data[63:0]`` the word to program into the selected row
  (the write drivers; ``program_word`` operation).
* ``VDD``, ``VSS``, and ``VPRE`` (the bit-line read rail) as pg_pins.

Timing is a single-point NLDM (the Liberty ``scalar`` template): the tables hold one input edge and
one load per result bit, so each arc has one value; ``cell_rise`` = ``cell_fall`` = the table's
latency (the last 50 % crossing of any result bit, rising or falling). The energy of one whole
operation (every supply and control source over the operation window) is the ``rise_power`` of the
pin edge that starts it (``fall_power`` 0 for an enable): ``wl_en`` for the RRAM path, a change of
``input_word`` for the register path, ``prog_en`` for a word write. A tool counts a bus pin's
internal power per toggling bit and edge, and the table's register-path stimulus toggles every
input bit once per operation: each bit's ``rise_power`` = ``fall_power`` = the operation's energy
/ the number of columns, so a full-word change sums to the table's value.
"""
from __future__ import annotations

from characterize.files import safe_text

from .export_tables import BDPEExport, generator

__all__ = ["render_liberty", "TIME_SCALE", "ENERGY_SCALE", "LEAKAGE_SCALE", "library_name"]

TIME_SCALE = 1e9       # s -> ns (time_unit "1ns")
ENERGY_SCALE = 1e12    # J -> pJ (internal power: capacitive_load_unit 1 pF x voltage_unit 1 V squared)
LEAKAGE_SCALE = 1e9    # W -> nW (leakage_power_unit "1nW")


def library_name(x: BDPEExport) -> str:
    return f"bdpe_{x.point.tag}"


def _num(value: float) -> str:
    """A number as Liberty text: the shortest text that reads back as the same double."""
    return repr(float(value))


def _comment(text: str) -> str:
    """Text made safe inside a /* */ comment (no control characters, no early end)."""
    return safe_text(text).replace("*/", "* /")


def _sources(x: BDPEExport) -> list[str]:
    v = x.values
    lines = [f"result <- wl_en (sel = 0, RRAM path): cell_rise = cell_fall = {_num(v['rram_latency'].value * TIME_SCALE)} ns "
             f"<- {v['rram_latency'].source}",
             f"result <- input_word, stored_word (sel = 1, register path): cell_rise = cell_fall = "
             f"{_num(v['register_latency'].value * TIME_SCALE)} ns <- {v['register_latency'].source}",
             f"wl_en rise_power (RRAM-path operation): {_num(v['rram_energy'].value * ENERGY_SCALE)} pJ <- {v['rram_energy'].source}",
             f"input_word rise_power = fall_power per bit (register-path operation / {x.geometry['cols']} toggling bits): "
             f"{_num(v['register_energy'].value * ENERGY_SCALE)} pJ per operation <- {v['register_energy'].source}"]
    if "program_energy" in v:
        lines.append(f"prog_en rise_power (word write): {_num(v['program_energy'].value * ENERGY_SCALE)} pJ "
                     f"<- {v['program_energy'].source}; write latency {_num(v['program_latency'].value * TIME_SCALE)} ns "
                     f"(no output arc: prog_en 50 % to the last cell past its resistance midpoint) <- "
                     f"{v['program_latency'].source}")
    else:
        lines.append(f"prog_en: no internal power ({x.missing['program']})")
    if "leakage" in v:
        lines.append(f"cell_leakage_power: {_num(v['leakage'].value * LEAKAGE_SCALE)} nW <- {v['leakage'].source}")
    else:
        lines.append(f"cell_leakage_power: 0, a placeholder, not a measurement: {x.missing['leakage']}")
    lines.append(f"area: {_num(v['area'].value)} um^2 <- {v['area'].source}")
    return lines


def _header(x: BDPEExport) -> list[str]:
    from characterize.bdpe_testbenches import C_OUT_LOAD_F

    g = x.geometry
    text = [f"{library_name(x)}: the BDPE (RRAM binary dot-product engine) as one macro cell at {x.point.label}.",
            f"Written by bdpe export liberty ({generator()}). Every number comes from the tables at this exact",
            "grid point (nothing interpolated), except the area (an estimate of the layout).",
            *x.provenance,
            "Units: time 1 ns; voltage 1 V; temperature C; internal power (energy per transition) 1 pJ",
            "  = capacitive_load_unit 1 pF x (voltage_unit 1 V)^2; leakage 1 nW; area um^2.",
            f"Timing: single-point NLDM (scalar template): one input edge of the bdpe-op testbench and one",
            f"  load ({_num(C_OUT_LOAD_F * 1e15)} fF on every result bit); cell_rise = cell_fall = the latency (last 50 %",
            "  crossing of any result bit). No slews and no input capacitances: the tables hold none.",
            "Energy: one whole operation is the rise_power of the edge that starts it (see bdpe/liberty.py).",
            f"Pins: wl_en[{g['rows'] - 1}:0] word-line enables (one-hot, no decoder); pre precharge; sae sense enable;",
            "  sel (0 RRAM path, 1 register path); stored_word, input_word; result; prog_en, write_data (write",
            f"  path); pg_pins VDD, VSS, VPRE ({_num(g['vpre_V'])} V read rail). No clock: the engine has none.",
            "Sources:", *[f"  {line}" for line in _sources(x)]]
    return ["/*"] + [f" * {_comment(line)}".rstrip() for line in text] + [" */"]


def _library_head(x: BDPEExport) -> list[str]:
    p, g = x.point, x.geometry
    widths = sorted({g["rows"], g["cols"], g["result_bits"]})
    lines = [f"library ({library_name(x)}) {{", "  delay_model : table_lookup;", '  time_unit : "1ns";',
             '  voltage_unit : "1V";', '  current_unit : "1mA";', '  leakage_power_unit : "1nW";',
             "  capacitive_load_unit (1, pf);", '  pulling_resistance_unit : "1kohm";', "  nom_process : 1;",
             f"  nom_voltage : {_num(p.vdd)};", f"  nom_temperature : {_num(p.temperature)};",
             f"  voltage_map (VDD, {_num(p.vdd)});", "  voltage_map (VSS, 0);",
             f"  voltage_map (VPRE, {_num(g['vpre_V'])});",
             f"  operating_conditions ({p.tag}) {{", "    process : 1;", f"    voltage : {_num(p.vdd)};",
             f"    temperature : {_num(p.temperature)};", "  }", f"  default_operating_conditions : {p.tag};"]
    for n in widths:
        lines += [f"  type (bus{n}) {{", "    base_type : array;", "    data_type : bit;", f"    bit_width : {n};",
                  f"    bit_from : {n - 1};", "    bit_to : 0;", "    downto : true;", "  }"]
    return lines


def _scalar(group: str, value: float) -> str:
    return f'{group} (scalar) {{ values ("{_num(value)}"); }}'


def _power(when: str | None, rise: float, fall: float) -> list[str]:
    cond = [f'  when : "{when}";'] if when else []
    return ["internal_power () {", *cond, f"  {_scalar('rise_power', rise)}", f"  {_scalar('fall_power', fall)}", "}"]


def _arc(related: str, when: str, latency_s: float) -> list[str]:
    t = latency_s * TIME_SCALE
    return ["timing () {", f'  related_bus_pins : "{related}";', "  timing_sense : non_unate;",
            "  timing_type : combinational;", f'  when : "{when}";', f"  {_scalar('cell_rise', t)}",
            f"  {_scalar('cell_fall', t)}", "}"]


def _pin(kind: str, name: str, direction: str, width: int | None = None, body: list[str] = ()) -> list[str]:
    head = [f"{kind} ({name}) {{"] + ([f"  bus_type : bus{width};"] if width else []) + [f"  direction : {direction};"]
    return head + [f"  {line}" for line in body] + ["}"]


def _cell(x: BDPEExport) -> list[str]:
    v, g = x.values, x.geometry
    leak = v["leakage"].value * LEAKAGE_SCALE if "leakage" in v else 0.0
    program = _power(None, v["program_energy"].value * ENERGY_SCALE, 0.0) if "program_energy" in v else []
    reg_e = v["register_energy"].value * ENERGY_SCALE / g["cols"]  # per toggling bit: a full word sums to it
    pins = [_pin("bus", "wl_en", "input", g["rows"], _power("!sel", v["rram_energy"].value * ENERGY_SCALE, 0.0)),
            _pin("pin", "pre", "input"), _pin("pin", "sae", "input"), _pin("pin", "sel", "input"),
            _pin("bus", "stored_word", "input", g["cols"]),
            _pin("bus", "input_word", "input", g["cols"], _power("sel", reg_e, reg_e)),
            _pin("pin", "prog_en", "input", None, program), _pin("bus", "write_data", "input", g["cols"]),
            _pin("bus", "result", "output", g["result_bits"],
                 _arc("wl_en", "!sel", v["rram_latency"].value) + _arc("input_word stored_word", "sel",
                                                                     v["register_latency"].value))]
    lines = ["cell (bdpe) {", f"  area : {_num(v['area'].value)};", "  is_macro_cell : true;", "  dont_touch : true;",
             "  dont_use : true;"]
    if "leakage" not in v:
        lines.append(f"  /* {_comment(x.missing['leakage'])}: 0 is a placeholder, not a measurement */")
    lines.append(f"  cell_leakage_power : {_num(leak)};")
    for name, kind in (("VDD", "primary_power"), ("VSS", "primary_ground"), ("VPRE", "primary_power")):
        lines += [f"  pg_pin ({name}) {{", f"    voltage_name : {name};", f"    pg_type : {kind};", "  }"]
    if "program_energy" not in v:
        lines.append(f"  /* prog_en: no internal power: {_comment(x.missing['program'])} */")
    for pin in pins:
        lines += [f"  {line}" for line in pin]
    return lines + ["}"]


def render_liberty(x: BDPEExport) -> list[tuple[str, str]]:
    """[(file name, Liberty text)] of the operating point of ``x``."""
    text = "\n".join(_header(x) + _library_head(x) + [f"  {line}" for line in _cell(x)] + ["}"]) + "\n"
    return [(f"{library_name(x)}.lib", text)]
