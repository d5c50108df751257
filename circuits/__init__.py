"""Pure netlist builders (parameters + technology in, SPICE text out) and technologies.

Place in the pipeline: rram_models -> **circuits** -> characterize (which builds decks from these
subcircuits and simulates them). Nothing in this package runs a simulator; the only files it
writes are content-named caches of derived model text (``model_library``: the part of a model
library a deck uses; ``parasitics``: standard-cell netlists with estimated parasitics).

Offers: the BDPE blocks (``rram_array``, ``sense_amp``, ``sense_reference``, ``bit_slice``,
``popcount``/``plan_popcount``, ``write_row``, ``bdpe``, ``area_estimate``, ``cell_states``,
``reference_resistance`` and their params classes), ``inverter_chain``, standard cells read as
transistors and their logic function (``cell_netlist``) and estimated parasitics (``parasitics``),
technologies
(``get_technology``, ``sky130``, ``ideal``, :class:`Technology`) and value validation
(``check_name``, ``check_number``, ``check_int``, ``check_word``, ``check_choice``, ``fmt``,
``check_deck_text``, :class:`NetlistValueError`).
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
