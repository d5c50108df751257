"""Standard-cell characterisation: ``cell-arc`` (one timing arc of any sky130_fd_sc_hd combinational
cell: delay, output transition, internal energy, input capacitance) and ``cell-leakage`` (the
cell's leakage power in every input state, from DC operating points).

Definitions (Liberty's, as the PDK's own tables use them):

* the input is driven by an ideal ramp whose 0-100 % time is ``slew_s / 0.6``, so that its 20-80 %
  transition is ``slew_s`` (Liberty's input_net_transition); the output is loaded by ``load_F``
  (total_output_net_capacitance); the cell's other outputs are left unloaded;
* ``delay_rise_s`` / ``delay_fall_s``: 50 % input -> 50 % output for a *rising* / *falling output*
  (Liberty's cell_rise / cell_fall), whichever input edge causes it;
* ``transition_rise_s`` / ``transition_fall_s``: the output's 20-80 % time of that edge;
* the output crossing taken is the last one before the next input edge (the edge it settles with:
  a glitch is not a delay), and the output must settle within 5 % of its rail, else
  MeasurementNotFound;
* ``energy_rise_J`` / ``energy_fall_J``: internal energy per output edge, ``V (Q_VPWR + Q_VGND) / 2
  - C_load V^2 / 2``, where Q_VPWR is the charge the cell draws from its VPWR pin and Q_VGND the
  charge it returns through VGND during the edge (from the input edge to the next one).  Averaging
  the two supply pins charges each output edge half of the load's C V^2 (a rising edge takes it
  from VPWR, a falling one returns it to VGND), so the internal energy of either edge is the
  short-circuit and internal-node energy and ``energy_rise + energy_fall + C V^2`` is the supply
  energy of a whole cycle (Liberty: internal power plus 1/2 C V^2 switching energy per edge).  The
  charge of the input pin leaves through the supply pins too and is part of it;
* ``input_cap_rise_F`` / ``input_cap_fall_F``: the charge the input pin draws during its rising /
  falling edge (same window) divided by V; ``input_cap_F`` their mean (Liberty's pin capacitance).

Worst case over side inputs.  Which states of the other inputs make the arc sensitive is read from a
switch-level boolean evaluation of the cell's transistor netlist (:mod:`circuits.cell_netlist`; no
simulation): every state in which toggling ``pin`` toggles ``output``.  ``sense`` restricts them to
the positive-unate (output follows the pin) or negative-unate states, as Liberty writes a non-unate
arc (fa_1 A -> SUM) as one arc of each kind.  Every state gets its own copy of the cell in one deck
(own supply ammeters, own input ammeter, own load, shared ideal sources), so one transient measures
them all; each metric is the worst (largest) over the states, ``worst_state_rise`` /
``worst_state_fall`` name the state of the slowest edge and ``states`` counts the states.  An arc
with no such state (a flip-flop's data pin, a tristate enable) is refused as bad input: these are
combinational arcs only.

``cell-leakage``: one copy of the cell per input state (all 2^n, n <= 8) on its own VPWR ammeter,
high inputs tied to that copy's own VPWR, outputs open; ``leakage_<pin><level>..._W`` = V x I(VPWR)
of each state from one DC operating point, and ``leakage_mean_W`` (Liberty's cell_leakage_power is
a state average), ``leakage_min_W``, ``leakage_max_W``.

``parasitics=estimated`` (the default: it is what makes the delays comparable with the PDK's
Liberty tables) simulates the cell's netlist with estimated junctions and wiring
(:mod:`circuits.parasitics`); ``layout`` with junctions and contact resistances read from the
cell's own layout (:data:`circuits.parasitics.SKY130_HD_LAYOUT`); ``none`` the netlist as shipped.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

from circuits.cell_netlist import ArcState, read_cell, sensitizing_states
from circuits.netlist import NetlistValueError, check_choice, check_name, check_number, fmt
from circuits.parasitics import PARASITIC_MODES
from circuits.stdcells import stdcell_instance
from circuits.technology import Technology, get_technology

from . import measure as m
from .runtime import Op, Probe, SimResult, SimSpec, Tran
from .testbench import Testbench

__all__ = ["CellArcTB", "CellLeakageTB", "CELL_ARC", "CELL_LEAKAGE", "ArcCircuit", "arc_circuit"]


def _f(default, unit: str, doc: str, **limits):
    return field(default=default, metadata={"unit": unit, "doc": doc, **limits})


@dataclass(frozen=True)
class _Cell:
    """A standard cell at an operating point (shared by the cell testbenches)."""

    cell: str = _f("inv_1", "-", "sky130_fd_sc_hd cell, e.g. fa_1")
    corner: str = _f("tt", "-", "process corner", choices=("tt", "ss", "ff", "sf", "fs"))
    vdd: float = _f(1.8, "V", "supply voltage", min_value=0.3, max_value=1.98)
    temperature_C: float = _f(25.0, "degC", "temperature (the PDK's Liberty tt corner: 25 C)",
                              min_value=-55.0, max_value=150.0)
    parasitics: str = _f("estimated", "-", "cell netlist: estimated junctions and wiring, layout (junctions and "
                         "contact resistances from the cell's layout), or none (as shipped)",
                         choices=PARASITIC_MODES)
    technology: str = _f("sky130", "-", "technology", choices=("sky130",))


@dataclass(frozen=True)
class CellArcTB(_Cell):
    """Testbench parameters of ``cell-arc``."""

    pin: str = _f("A", "-", "the input pin of the arc")
    output: str = _f("", "-", "the output pin of the arc (default: the cell's single output)")
    sense: str = _f("any", "-", "side-input states taken: any sensitizing, or only positive / negative unate",
                    choices=("any", "positive", "negative"))
    slew_s: float = _f(5.31329e-11, "s", "input 20-80 % transition (ramp 0-100 % = slew / 0.6)",
                       min_value=1e-13, max_value=5e-9)
    load_F: float = _f(3.4e-15, "F", "output load capacitance", min_value=0.0, max_value=1e-10)


@dataclass(frozen=True)
class ArcCircuit:
    """What a ``cell-arc`` deck measures: the resolved cell, pins and sensitizing states."""

    cell: str
    pin: str
    output: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    states: tuple[ArcState, ...]


def _signal_pins(tech: Technology, cell: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(inputs, outputs) of a cell in port order, from its LEF pin directions."""
    directions = tech.stdcell_pin_directions(cell)
    ports = tech.stdcell_pins(cell)
    return (tuple(p for p in ports if directions.get(p) == "input"),
            tuple(p for p in ports if directions.get(p) == "output"))


def arc_circuit(p: CellArcTB, tech: Technology) -> ArcCircuit:
    """Check the arc's cell and pins against the cell library and find its sensitizing states."""
    cell = tech.stdcell_name(check_name("cell", p.cell))
    tech.stdcell_netlist(cell)  # an unknown cell is refused here, by name
    inputs, outputs = _signal_pins(tech, cell)
    pin = check_name("pin", p.pin)
    if pin not in inputs:
        raise NetlistValueError("pin", pin, f"is not an input of {cell} ({', '.join(inputs) or 'none'})")
    output = p.output or (outputs[0] if len(outputs) == 1 else "")
    if not output:
        raise NetlistValueError("output", p.output, f"must be given: {cell} has outputs {', '.join(outputs)}")
    if check_name("output", output) not in outputs:
        raise NetlistValueError("output", output, f"is not an output of {cell} ({', '.join(outputs)})")
    sense = check_choice("sense", p.sense, ("any", "positive", "negative"))
    states = sensitizing_states(read_cell(tech.stdcell_source_netlist(cell)), inputs, pin, output)
    states = tuple(s for s in states if sense == "any" or s.positive == (sense == "positive"))
    if not states:
        raise NetlistValueError("pin", pin, f"never toggles {output} of {cell}"
                                + ("" if sense == "any" else f" {sense}-unate")
                                + " in any state of the other inputs (only combinational arcs are characterised)")
    return ArcCircuit(cell, pin, output, inputs, outputs, states)


# ----------------------------------------------------------------------------------------------
# cell-arc


def _timing(p: CellArcTB) -> tuple[float, float, float]:
    """(input delay, ramp 0-100 % time, half period) of the stimulus (s).  The output must settle
    within a half period after the ramp: 1 ns + 25 kOhm x C_load (fa_1's slowest arc, SUM at 23 fF,
    settles within 5 % in 0.94 ns of the 1.57 ns this gives; a cell that does not is reported)."""
    slew = check_number("slew_s", p.slew_s, strictly_positive=True)
    load = check_number("load_F", p.load_F, min_value=0.0)
    ramp = slew / 0.6
    return 50e-12, ramp, ramp + 1e-9 + 25e3 * load


def _max_step(p: CellArcTB, half: float) -> float:
    """Largest time step (s): a tenth of the fastest output edge the load allows (10 ps + 1 ps/fF),
    at least 2 ps and 1/2000 of the half period: delays within ~0.1 % and transitions within ~2 %
    of a run with 0.5 ps steps and reltol 1e-5."""
    return max(2e-12, 0.1 * (10e-12 + 1e-12 * p.load_F / 1e-15), half / 2000)


def _arc_deck(arc: ArcCircuit, tech: Technology, vnom: float, pulse: tuple) -> str:
    lines = [f'.include "{tech.stdcell_netlist(arc.cell)}"', ".param cload=0",
             f"Vdd vdd 0 dc {fmt(vnom)}", "Vlo lo 0 dc 0", f"Vin ramp 0 pulse({' '.join(fmt(x) for x in pulse)})"]
    for k, state in enumerate(arc.states):
        pins = {name: ("vdd" if level else "lo") for name, level in state.side}
        pins[arc.pin] = f"in{k}"
        pins.update({o: f"out{k}" if o == arc.output else f"other{k}_{o}" for o in arc.outputs})
        lines += [f"* state {k}: {state.label}",
                  f"Vpwr{k} vdd vdd{k} dc 0", f"Vgnd{k} gnd{k} 0 dc 0", f"Vpin{k} ramp in{k} dc 0",
                  stdcell_instance(tech, arc.cell, f"dut{k}", pins, vdd=f"vdd{k}", vss=f"gnd{k}"),
                  f"Cload{k} out{k} 0 {{cload}}"]
    return "\n".join(lines)


def _build_cell_arc(p: CellArcTB, tech: Technology) -> SimSpec:
    tech = tech.with_stdcell_parasitics(p.parasitics)
    arc = arc_circuit(p, tech)
    delay0, ramp, half = _timing(p)
    vdd = check_number("vdd", p.vdd, min_value=0.3, max_value=1.98)

    def pulse(v):
        return (0.0, v, delay0, ramp, ramp, half - ramp, 4 * half)

    probes = [Probe("in", "v", "ramp")]
    for k in range(len(arc.states)):
        probes += [Probe(f"out{k}", "v", f"out{k}"), Probe(f"ipwr{k}", "i", f"Vpwr{k}"),
                   Probe(f"ignd{k}", "i", f"Vgnd{k}"), Probe(f"ipin{k}", "i", f"Vpin{k}")]
    # the deck depends on the cell, the arc's states and the corner only: supply and stimulus are
    # altered, the load is a .param (alterparam + reset), so a slew x load sweep never re-parses
    return SimSpec(
        deck=_arc_deck(arc, tech, tech.vdd_nominal_V, pulse(tech.vdd_nominal_V)),
        analysis=Tran(step_s=_max_step(p, half), stop_s=delay0 + 2 * half, max_step_s=_max_step(p, half)),
        probes=tuple(probes), technology=tech, corner=p.corner, temperature_C=p.temperature_C,
        params={"cload": p.load_F}, alters=(("vdd", "dc", vdd), ("vin", "pulse", pulse(vdd))),
        label=f"cell-arc {arc.cell[len(tech.stdcell_prefix):]} {arc.pin}->{arc.output} slew={p.slew_s:g} "
              f"load={p.load_F:g} {p.corner} vdd={vdd:g} {p.temperature_C:g}C {p.parasitics}",
    )


def _window(t, y, start: float, stop: float) -> tuple[np.ndarray, np.ndarray]:
    """(y, t) on [start, stop], the ends interpolated (for np.trapezoid)."""
    inner = (t > start) & (t < stop)
    tw = np.concatenate(([start], t[inner], [stop]))
    return np.interp(tw, t, y), tw


def _last_crossing(t, y, level: float, direction: str, start: float, stop: float) -> float:
    """The last ``direction`` crossing of ``level`` in [start, stop] (the one the signal settles with)."""
    times = m.crossings(t, y, level, direction)
    times = times[(times > start) & (times < stop)]
    if times.size == 0:
        raise m.MeasurementNotFound(f"no {direction} crossing of {level:g} V in [{start:g}, {stop:g}] s")
    return float(times[-1])


def _edge(p: CellArcTB, r: SimResult, k: int, rising_in: bool, rising_out: bool, window) -> dict:
    """Delay, transition, internal energy and input charge of copy ``k``'s output edge in ``window``."""
    t, v = r["time"], p.vdd
    start, stop = window
    out = r[f"out{k}"]
    direction = "rise" if rising_out else "fall"
    final = float(np.interp(stop, t, out))
    if abs(final - (v if rising_out else 0.0)) > 0.05 * v:
        raise m.MeasurementNotFound(f"copy {k}: the output is at {final:.3g} V at t={stop:g} s, it did not "
                                    f"{direction} and settle within the window")
    t_in = m.crossing(t, r["in"], 0.5 * v, "rise" if rising_in else "fall", start)
    lo, hi = (0.2 * v, 0.8 * v) if rising_out else (0.8 * v, 0.2 * v)
    q = {name: float(np.trapezoid(*_window(t, r[f"{name}{k}"], start, stop))) for name in ("ipwr", "ignd", "ipin")}
    return {
        "delay": _last_crossing(t, out, 0.5 * v, direction, start, stop) - t_in,
        "transition": (_last_crossing(t, out, hi, direction, start, stop)
                       - _last_crossing(t, out, lo, direction, start, stop)),
        "energy": 0.5 * v * (q["ipwr"] + q["ignd"]) - 0.5 * p.load_F * v * v,
        "input_cap": (q["ipin"] if rising_in else -q["ipin"]) / v,
    }


def _measure_cell_arc(p: CellArcTB, r: SimResult) -> dict:
    arc = arc_circuit(p, get_technology(p.technology))
    delay0, _ramp, half = _timing(p)
    windows = ((delay0, delay0 + half), (delay0 + half, delay0 + 2 * half))
    by_out: dict[bool, list] = {True: [], False: []}
    caps: dict[bool, list] = {True: [], False: []}
    for k, state in enumerate(arc.states):
        for window, rising_in in zip(windows, (True, False)):
            rising_out = rising_in == state.positive
            edge = _edge(p, r, k, rising_in, rising_out, window)
            by_out[rising_out].append((edge, state.label))
            caps[rising_in].append(edge["input_cap"])
    metrics: dict[str, object] = {}
    for rising, name in ((True, "rise"), (False, "fall")):
        edges = by_out[rising]
        if not edges:  # cannot happen: every state toggles the output both ways
            raise m.MeasurementNotFound(f"no output {name} edge")
        worst = max(edges, key=lambda e: e[0]["delay"])
        metrics[f"delay_{name}_s"] = worst[0]["delay"]
        metrics[f"transition_{name}_s"] = max(e["transition"] for e, _ in edges)
        metrics[f"energy_{name}_J"] = max(e["energy"] for e, _ in edges)
        metrics[f"input_cap_{name}_F"] = max(caps[rising])
        metrics[f"worst_state_{name}"] = worst[1]
    metrics["input_cap_F"] = 0.5 * (metrics["input_cap_rise_F"] + metrics["input_cap_fall_F"])
    metrics["states"] = float(len(arc.states))
    return metrics


CELL_ARC = Testbench(
    name="cell-arc",
    description="one timing arc of a sky130_fd_sc_hd cell (Liberty definitions): 50 %-50 % delay and "
                "20-80 % transition per output edge, internal energy, input capacitance; worst over the "
                "side-input states that sensitize the arc",
    params_type=CellArcTB, build=_build_cell_arc, measure=_measure_cell_arc,
    units={"delay_rise_s": "s", "delay_fall_s": "s", "transition_rise_s": "s", "transition_fall_s": "s",
           "energy_rise_J": "J", "energy_fall_J": "J", "input_cap_rise_F": "F", "input_cap_fall_F": "F",
           "input_cap_F": "F", "states": "-", "worst_state_rise": "-", "worst_state_fall": "-"},
)


# ----------------------------------------------------------------------------------------------
# cell-leakage: static supply power of a cell in every input state, from one DC operating point


@dataclass(frozen=True)
class CellLeakageTB(_Cell):
    """Testbench parameters of ``cell-leakage``."""


_MAX_LEAKAGE_INPUTS = 8  # 256 copies of the cell in one deck


def _leakage_states(tech: Technology, cell: str) -> tuple[tuple[str, ...], list[tuple[int, ...]]]:
    inputs, _outputs = _signal_pins(tech, cell)
    if len(inputs) > _MAX_LEAKAGE_INPUTS:
        raise NetlistValueError("cell", cell, f"has {len(inputs)} inputs: at most {_MAX_LEAKAGE_INPUTS} are enumerated")
    return inputs, list(itertools.product((0, 1), repeat=len(inputs)))


def _build_cell_leakage(p: CellLeakageTB, tech: Technology) -> SimSpec:
    """One copy of the cell per input state, each on its own supply ammeter; high inputs are tied to
    that copy's own supply, so the power of a copy is everything its state draws from VPWR (gate
    leakage of its inputs included); outputs are left open."""
    tech = tech.with_stdcell_parasitics(p.parasitics)
    cell = tech.stdcell_name(check_name("cell", p.cell))
    tech.stdcell_netlist(cell)
    inputs, states = _leakage_states(tech, cell)
    _inputs, outputs = _signal_pins(tech, cell)
    vdd = check_number("vdd", p.vdd, min_value=0.3, max_value=1.98)
    lines = [f'.include "{tech.stdcell_netlist(cell)}"', f"Vdd vdd 0 dc {fmt(tech.vdd_nominal_V)}", "Vlo lo 0 dc 0"]
    for k, levels in enumerate(states):
        pins = {pin: (f"vdd{k}" if level else "lo") for pin, level in zip(inputs, levels)}
        pins.update({o: f"open{k}_{o}" for o in outputs})
        lines += [f"Vpwr{k} vdd vdd{k} dc 0", stdcell_instance(tech, cell, f"dut{k}", pins, vdd=f"vdd{k}", vss="lo")]
    return SimSpec(deck="\n".join(lines), analysis=Op(),
                   probes=tuple(Probe(f"ipwr{k}", "i", f"Vpwr{k}") for k in range(len(states))),
                   technology=tech, corner=p.corner, temperature_C=p.temperature_C, alters=(("vdd", "dc", vdd),),
                   label=f"cell-leakage {cell[len(tech.stdcell_prefix):]} {p.corner} vdd={vdd:g} {p.temperature_C:g}C")


def _measure_cell_leakage(p: CellLeakageTB, r: SimResult) -> dict:
    tech = get_technology(p.technology)
    inputs, states = _leakage_states(tech, tech.stdcell_name(p.cell))
    power = [p.vdd * float(np.real(r[f"ipwr{k}"])[0]) for k in range(len(states))]
    metrics: dict[str, float] = {"leakage_mean_W": float(np.mean(power)), "leakage_min_W": min(power),
                                 "leakage_max_W": max(power)}
    for levels, watts in zip(states, power):
        metrics["leakage_" + "_".join(f"{pin}{level}" for pin, level in zip(inputs, levels)) + "_W"] = watts
    return metrics


CELL_LEAKAGE = Testbench(
    name="cell-leakage",
    description="leakage power of a sky130_fd_sc_hd cell in every input state, from one DC operating point "
                "(per state leakage_<pin><level>..._W; mean, min and max over the states)",
    params_type=CellLeakageTB, build=_build_cell_leakage, measure=_measure_cell_leakage,
    units={"leakage_mean_W": "W", "leakage_min_W": "W", "leakage_max_W": "W"},
)
