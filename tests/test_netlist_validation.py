"""Every value that reaches a netlist is validated (no simulator needed)."""
import math

import pytest

from circuits.netlist import (NetlistValueError, check_deck_text, check_int, check_name, check_number, fmt)


@pytest.mark.parametrize("bad", ["1.8\n.control", "1.8 ", "1e", "nan", "inf", "", "0x10", "1;shell", "1.8\nshell ls"])
def test_check_number_rejects(bad):
    with pytest.raises(NetlistValueError) as exc:
        check_number("vdd", bad)
    assert exc.value.field == "vdd"


@pytest.mark.parametrize("good,value", [("1.8", 1.8), ("-2e-9", -2e-9), (".5", 0.5), (3, 3.0), ("1E3", 1000.0)])
def test_check_number_accepts(good, value):
    assert check_number("x", good) == value


def test_check_number_limits_and_bool():
    with pytest.raises(NetlistValueError):
        check_number("vdd", -1.0, min_value=0.0)
    with pytest.raises(NetlistValueError):
        check_number("vdd", True)
    with pytest.raises(NetlistValueError):
        check_number("vdd", math.nan)


@pytest.mark.parametrize("bad", ["tt\n.control", "1abc", "a b", "a;b", "", "x.y", "tt\r", None, 3])
def test_check_name_rejects(bad):
    with pytest.raises(NetlistValueError):
        check_name("corner", bad)


def test_check_int():
    assert check_int("stored", "0xff") == 255
    assert check_int("n", "12") == 12
    for bad in ("1.5", "0x", "12\n", True, 1.5):
        with pytest.raises(NetlistValueError):
            check_int("n", bad)


@pytest.mark.parametrize("deck", [".control\nshell ls\n.endc", "R1 a b 1\n  shell rm -rf x", "R1 a 0 1\r\n",
                                  ".exec foo", ".include |cat /etc/passwd"])
def test_deck_text_guard(deck):
    with pytest.raises(NetlistValueError):
        check_deck_text("deck", deck)


def test_fmt_roundtrip():
    for v in (1.8, 1e-15, 0.1 + 0.2, -3.0):
        assert abs(float(fmt(v)) - v) <= 1e-11 * abs(v)  # 12 significant digits (fmt docstring)
