"""Validation and formatting of every value that reaches a netlist.

Builders never paste user text into SPICE: names must match ``[A-Za-z_][A-Za-z0-9_]*``,
numbers must be finite real numbers and are written back by Python (``repr`` of a float),
so nothing a user types can smuggle an ngspice command (``.control``, ``shell``, a newline)
into a deck.  :class:`NetlistValueError` names the offending field and value.
"""
from __future__ import annotations

import math
import re
from numbers import Integral, Real

from rram_models.base import InputError, short_repr, spice_number

__all__ = [
    "NetlistValueError",
    "check_name",
    "check_number",
    "check_int",
    "check_choice",
    "check_word",
    "word_text",
    "fmt",
    "check_deck_text",
    "short_repr",
]

_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z", re.ASCII)
MAX_NAME_LENGTH = 64
# ASCII only: str.isdigit() and Python's int()/float() also accept other scripts' digits
_NUMBER_RE = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?", re.ASCII)
_INT_RE = re.compile(r"[+-]?(0|[1-9][0-9]*|0[xX][0-9a-fA-F]+|0[bB][01]+)", re.ASCII)
_WORD_RE = re.compile(r"0[xX][0-9a-fA-F]{1,16}|0|[1-9][0-9]{0,19}", re.ASCII)
# Lines that would make ngspice execute commands instead of describing a circuit.
_FORBIDDEN_LINE_RE = re.compile(r"^\s*(\.control|\.endc|\.exec|\.shell|shell\b|\.include\s+\|)", re.I)


class NetlistValueError(InputError):
    """A value that must not reach a netlist; ``field`` names where it came from."""


def check_name(field: str, value: object) -> str:
    """Return ``value`` if it is a plain SPICE identifier, else raise :class:`NetlistValueError`."""
    if not isinstance(value, str) or not _NAME_RE.match(value):
        raise NetlistValueError(field, value, "is not a name matching [A-Za-z_][A-Za-z0-9_]*")
    if len(value) > MAX_NAME_LENGTH:
        raise NetlistValueError(field, value[:20] + "...", f"is longer than {MAX_NAME_LENGTH} characters")
    return value


def check_number(field: str, value: object, *, min_value: float | None = None,
                 max_value: float | None = None, strictly_positive: bool = False) -> float:
    """Return ``value`` as a finite float (str is parsed strictly), else raise."""
    if isinstance(value, bool):
        raise NetlistValueError(field, value, "is not a number")
    if isinstance(value, str):
        text = value.strip()
        if text != value or len(text) > 64 or not _NUMBER_RE.fullmatch(text):
            raise NetlistValueError(field, value, "is not a number")
        number = float(text)
    elif isinstance(value, Real):
        number = float(value)
    else:
        raise NetlistValueError(field, value, "is not a number")
    if not math.isfinite(number):
        raise NetlistValueError(field, value, "is not a finite number")
    if strictly_positive and number <= 0:
        raise NetlistValueError(field, value, "must be > 0")
    if min_value is not None and number < min_value:
        raise NetlistValueError(field, value, f"must be >= {min_value:g}")
    if max_value is not None and number > max_value:
        raise NetlistValueError(field, value, f"must be <= {max_value:g}")
    return number


def check_int(field: str, value: object, *, min_value: int | None = None,
              max_value: int | None = None) -> int:
    """Return ``value`` as an int (decimal or 0x-hex string accepted), else raise."""
    if isinstance(value, bool):
        raise NetlistValueError(field, value, "is not an integer")
    if isinstance(value, str):
        text = value
        if len(text) > 64 or not _INT_RE.fullmatch(text):
            raise NetlistValueError(field, value, "is not an integer (decimal, 0x hex or 0b binary, ASCII digits)")
        number = int(text, 0)
    elif isinstance(value, Integral):
        number = int(value)
    else:  # a float (1e3 in a TOML file) is not an integer: the unit of a count is never fractional
        raise NetlistValueError(field, value, "is not an integer")
    if min_value is not None and number < min_value:
        raise NetlistValueError(field, value, f"must be >= {min_value}")
    if max_value is not None and number > max_value:
        raise NetlistValueError(field, value, f"must be <= {max_value}")
    return number


def check_word(field: str, value: object, bits: int = 64) -> int:
    """A ``bits``-wide word: ``0x`` hex (1..16 digits) or decimal, 0 <= value < 2**bits; a Python
    int is accepted as is.  Returns the integer."""
    if isinstance(value, bool):
        raise NetlistValueError(field, value, "is not a 64-bit word")
    if isinstance(value, str):
        if not _WORD_RE.fullmatch(value):
            raise NetlistValueError(field, value, "is not a 64-bit word (0x followed by 1-16 hex digits, or decimal)")
        number = int(value, 0) if value[:2].lower() == "0x" else int(value, 10)
    elif isinstance(value, Integral):
        number = int(value)
    else:
        raise NetlistValueError(field, value, "is not a 64-bit word (0x followed by 1-16 hex digits, or decimal)")
    if not 0 <= number < (1 << bits):
        raise NetlistValueError(field, value, f"must be within 0 <= value < 2^{bits}")
    return number


def word_text(value: int) -> str:
    """Canonical text of a 64-bit word: ``0x`` and 16 lower-case hex digits."""
    return f"0x{value:016x}"


def check_choice(field: str, value: object, choices) -> str:
    """Return ``value`` if it is one of ``choices`` (strings), else raise."""
    if not isinstance(value, str) or value not in choices:
        raise NetlistValueError(field, value, f"is not one of {', '.join(choices)}")
    return value


def fmt(value: float) -> str:
    """Format a validated number for a netlist (12 significant digits: ``rram_models.base.spice_number``)."""
    return spice_number(value)


def check_deck_text(field: str, text: str) -> str:
    """Refuse a deck that contains control blocks or shell escapes (last line of defence)."""
    if "\r" in text or "\x00" in text:
        raise NetlistValueError(field, "<deck>", "contains a carriage return or NUL character")
    for line in text.splitlines():
        if _FORBIDDEN_LINE_RE.match(line):
            raise NetlistValueError(field, line.strip(), "is an ngspice control line, not a circuit line")
    return text


from dataclasses import dataclass as _dataclass


@_dataclass(frozen=True)
class Subckt:
    """A subcircuit produced by a builder: its name, ports, text and the files it includes."""

    name: str
    ports: tuple[str, ...]
    text: str
    includes: tuple[str, ...] = ()

    def include_lines(self) -> list[str]:
        return [f'.include "{path}"' for path in self.includes]


__all__.append("Subckt")
