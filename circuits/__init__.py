"""Pure netlist builders (parameters + technology in, SPICE text out) and technologies.

Nothing in this package runs a simulator or writes files.
"""
from .inverter_chain import InverterChainParams, inverter_chain
from .netlist import (NetlistValueError, Subckt, check_choice, check_deck_text, check_int, check_name,
                      check_number, fmt)
from .technology import Technology, TechnologyNotFound, get_technology, ideal, sky130

__all__ = [
    "InverterChainParams", "inverter_chain",
    "NetlistValueError", "Subckt", "check_choice", "check_deck_text", "check_int", "check_name",
    "check_number", "fmt",
    "Technology", "TechnologyNotFound", "get_technology", "ideal", "sky130",
]
