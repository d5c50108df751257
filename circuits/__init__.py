"""Pure netlist builders (parameters + technology in, SPICE text out) and technologies.

Place in the pipeline: rram_models -> **circuits** (1T1R cell, array, sense amplifier + XNOR,
popcount, write drivers, the whole BDPE, area) -> characterize. Nothing in this package runs a
simulator or writes files.
"""
from .bdpe import (ArrayParams, BDPEParams, CellParams, SenseParams, WriteRowParams, area_estimate, bdpe, bit_slice,
                   cell_states, reference_resistance, rram_array, sense_amp, sense_reference, write_row)
from .popcount import PopcountParams, plan_popcount, popcount
from .inverter_chain import InverterChainParams, inverter_chain
from .netlist import (NetlistValueError, Subckt, check_choice, check_deck_text, check_int, check_name,
                      check_number, check_word, fmt, word_text)
from .technology import Technology, TechnologyNotFound, get_technology, ideal, sky130

__all__ = [
    "ArrayParams", "BDPEParams", "CellParams", "SenseParams", "WriteRowParams", "area_estimate", "bdpe", "bit_slice",
    "cell_states", "reference_resistance", "rram_array", "sense_amp", "sense_reference", "write_row",
    "PopcountParams", "plan_popcount", "popcount",
    "InverterChainParams", "inverter_chain",
    "NetlistValueError", "Subckt", "check_choice", "check_deck_text", "check_int", "check_name",
    "check_number", "check_word", "word_text", "fmt",
    "Technology", "TechnologyNotFound", "get_technology", "ideal", "sky130",
]
