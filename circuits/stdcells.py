"""Instances of technology standard cells by pin name (supplies filled in)."""
from __future__ import annotations

from typing import Mapping

from .netlist import NetlistValueError, check_name
from .technology import Technology

__all__ = ["stdcell_instance", "SUPPLY_PINS"]

SUPPLY_PINS = {"VGND": "vss", "VNB": "vss", "VPB": "vdd", "VPWR": "vdd"}


def stdcell_instance(tech: Technology, cell: str, name: str, pins: Mapping[str, str],
                     vdd: str = "vdd", vss: str = "vss") -> str:
    """``X<name> <nets in the cell's port order> <cell>``; every signal pin must be given."""
    full = tech.stdcell_name(cell)
    order = tech.stdcell_pins(full)
    supplies = {"VGND": vss, "VNB": vss, "VPB": vdd, "VPWR": vdd}
    nets = []
    for pin in order:
        if pin in supplies:
            nets.append(supplies[pin])
        elif pin in pins:
            nets.append(check_name(f"{cell}.{pin}", pins[pin]))
        else:
            raise NetlistValueError(f"{cell}.{pin}", None, f"is not connected in instance {name}")
    extra = set(pins) - set(order)
    if extra:
        raise NetlistValueError(f"{cell} pins", sorted(extra), f"are not pins of {full} ({', '.join(order)})")
    return f"X{check_name('instance', name)} {' '.join(nets)} {full}"
