"""Property-based fuzzing of the three input surfaces with malformed input (Hypothesis).

1. ``bdpe simulate OPERATION --set NAME=VALUE --dry-run``: the parameter parser;
2. ``bdpe characterize CAMPAIGN.toml``: the campaign schema;
3. ``characterize.open_tables`` / ``bdpe evaluate --tables``: the HDF5 table reader.

Every generated input is malformed BY CONSTRUCTION, and the value-level strategies are filtered
by an oracle written here (independently of ``circuits.netlist``) that says the value breaks the
documented rules.  For every case: exit code exactly 2, stderr exactly one non-empty line starting
with ``bdpe: error: `` (no traceback), nothing printed on stdout, no netlist written to
``$BDPE_NETLIST_DIR``, no output file and no ``*.tmp`` left behind.

Nothing here runs ngspice: ``simulate`` gets ``--dry-run`` and, belt and braces, the entry points
that would start a simulation (``characterize.runtime.run``/``SimulationPool``,
``characterize.execute.run_campaign``) are replaced by a stub that raises, so a wrongly accepted
input fails the test instead of simulating.

Examples per run (``max_examples``): 300 + 100 + 250 + 150 + 60 + 30 = 890 (derandomized: CI is reproducible).
"""
from __future__ import annotations

import contextlib
import copy
import functools
import io
import math
import re
import shutil
import tempfile
import tomllib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bdpe.cli import main

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "campaigns" / "smoke.toml"


def fuzz_settings(n: int):
    return settings(max_examples=n, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


# ----------------------------------------------------------------------------------------------
# harness: run main() in-process and check the refusal contract


class SimulationReached(Exception):
    """Raised by the stubs below: a malformed input got as far as a simulation."""


def _no_simulation(*args, **kwargs):
    raise SimulationReached("a malformed input reached the simulator (it should have been refused with exit 2)")


@pytest.fixture
def guarded(monkeypatch):
    """No simulation can start, no debug re-raise; returns monkeypatch (for BDPE_NETLIST_DIR)."""
    import characterize.execute
    import characterize.runtime

    monkeypatch.delenv("BDPE_DEBUG", raising=False)
    monkeypatch.setattr(characterize.runtime, "run", _no_simulation)
    monkeypatch.setattr(characterize.runtime, "SimulationPool", _no_simulation)
    monkeypatch.setattr(characterize.execute, "run_campaign", _no_simulation)
    return monkeypatch


@contextlib.contextmanager
def workdir(base: Path, monkeypatch):
    """A fresh directory per example; BDPE_NETLIST_DIR names a subdirectory that does not exist yet."""
    d = Path(tempfile.mkdtemp(prefix="ex", dir=base))
    netlists = d / "netlists"
    monkeypatch.setenv("BDPE_NETLIST_DIR", str(netlists))
    try:
        yield d, netlists
    finally:
        shutil.rmtree(d, ignore_errors=True)


def assert_refused(argv: list[str], d: Path, netlists: Path, outputs=(), keep=()) -> str:
    """main(argv) == 2, one ``bdpe: error:`` line on stderr, nothing else written anywhere."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(argv)
    text = err.getvalue()
    ctx = f"\nargv={argv!r}\nexit={rc}\nstderr={text!r}\nstdout={out.getvalue()[:500]!r}"
    assert rc == 2, "expected exit 2" + ctx
    assert text.endswith("\n") and text.count("\n") == 1 and len(text.splitlines()) == 1, "not one line" + ctx
    assert text.startswith("bdpe: error: ") and text[len("bdpe: error: "):].strip(), "bad prefix" + ctx
    assert "Traceback" not in text, ctx
    assert out.getvalue() == "", "stdout not empty" + ctx
    assert not netlists.exists() or not any(netlists.iterdir()), "a netlist was written" + ctx
    for p in outputs:
        assert not Path(p).exists(), f"output {p} was created" + ctx
    assert not list(d.rglob("*.tmp")), "temporary file left" + ctx
    assert not list(d.rglob(".bdpe-probe.*")), "probe file left" + ctx
    extra = sorted(p.name for p in d.iterdir() if p.name not in set(keep))
    assert not extra, f"files created: {extra}" + ctx
    return text


# ----------------------------------------------------------------------------------------------
# 1. simulate --set NAME=VALUE
#
# The parameters of four testbenches, written out here (test_catalog_matches_testbenches checks
# that the library still agrees): ("float", lo, hi), ("int", lo, hi), ("word",), ("choice", (...)),
# ("cell",) = an inverter cell of sky130_fd_sc_hd.

CORNERS = ("tt", "ss", "ff", "sf", "fs")
MODELS = ("stanford-pku", "vteam")
PSETS = ("default", "exponential", "sky130-1t1r")
TECHS = ("sky130", "freepdk45")
CATALOG = {
    "inverter-chain": {
        "vdd": ("float", 0.3, 1.98), "corner": ("choice", CORNERS), "temperature_C": ("float", -55.0, 150.0),
        "stages": ("int", 1, 64), "cell": ("cell",), "load_F": ("float", 0.0, 1e-11),
        "slew_s": ("float", 1e-13, 1e-9), "period_s": ("float", 2e-10, 1e-6),
    },
    "bdpe-op": {
        "corner": ("choice", CORNERS), "vdd": ("float", 0.0, 1.95), "temperature_C": ("float", -40.0, 125.0),
        "model": ("choice", MODELS), "parameter_set": ("choice", PSETS), "stored": ("word",), "input": ("word",),
        "path": ("choice", ("rram", "register")), "rows": ("int", 1, 1024), "vpre": ("float", 0.05, 0.4),
        "t_sense": ("float", 0.0, 1e-7), "window": ("float", 0.0, 1e6), "technology": ("choice", TECHS),
        "parasitics": ("choice", ("none", "estimated", "layout")),
    },
    "program-word": {
        "corner": ("choice", CORNERS), "vdd": ("float", 0.0, 1.95), "temperature_C": ("float", -40.0, 125.0),
        "model": ("choice", MODELS), "parameter_set": ("choice", PSETS), "word": ("word",), "technology": ("choice", TECHS),
        "initial": ("choice", ("complement", "zeros", "ones")), "cols": ("int", 1, 64), "rows": ("int", 1, 1024),
        "t_write": ("float", 0.0, 1e-5), "parasitics": ("choice", ("none", "estimated", "layout")),
    },
    "rc-step": {
        "r_ohm": ("float", 1e-3, 1e12), "c_F": ("float", 1e-18, 1.0), "v_step": ("float", -1e3, 1e3),
        "rise_s": ("float", 1e-18, 1.0), "taus": ("float", 1.0, 100.0), "technology": ("choice", ("ideal",)),
    },
}

# The oracle: True when a text MIGHT be accepted under the documented rules (deliberately lenient:
# "1." and upper-case 0X/0B prefixes and hex digits are given the benefit of the doubt).
_FLOAT_OK = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)
_INT_OK = re.compile(r"[+-]?(?:0|[1-9][0-9]*|0[xX][0-9a-fA-F]+|0[bB][01]+)", re.ASCII)
_WORD_OK = re.compile(r"0[xX][0-9a-fA-F]{1,16}|0|[1-9][0-9]*", re.ASCII)
_INVERTER_OK = re.compile(r"(?:inv|clkinv|clkinvlp)_[0-9]+", re.ASCII)


def might_be_valid(spec: tuple, text: str) -> bool:
    kind = spec[0]
    if kind == "float":
        if len(text) > 64 or not _FLOAT_OK.fullmatch(text):
            return False
        x = float(text)
        return math.isfinite(x) and spec[1] <= x <= spec[2]
    if kind == "int":
        if len(text) > 64 or not _INT_OK.fullmatch(text):
            return False
        return spec[1] <= int(text, 0) <= spec[2]
    if kind == "word":
        if not _WORD_OK.fullmatch(text):
            return False
        return int(text, 16 if text[:2].lower() == "0x" else 10) < 2 ** 64
    if kind == "choice":
        return text in spec[1]
    if kind == "cell":
        return len(text) <= 64 and _INVERTER_OK.fullmatch(text) is not None
    raise AssertionError(spec)


@functools.lru_cache(maxsize=None)
def valid_text(spec: tuple):
    kind = spec[0]
    if kind == "float":
        return st.floats(spec[1], spec[2], allow_nan=False, allow_infinity=False).map(repr)
    if kind == "int":
        return st.integers(spec[1], spec[2]).flatmap(lambda n: st.sampled_from([str(n), hex(n), bin(n)]))
    if kind == "word":
        return st.integers(0, 2 ** 64 - 1).flatmap(lambda n: st.sampled_from([str(n), f"0x{n:x}", f"0x{n:016x}"]))
    if kind == "choice":
        return st.sampled_from(spec[1])
    return st.sampled_from(["inv_1", "inv_2", "clkinv_1"])


INJECTIONS = ["\n.control\nshell touch pwned\n.endc", "\n.control", "\nshell touch pwned", " shell rm -rf x",
              "\r\n.exec echo", "\n.include |cat /etc/passwd", ";.control", "\x00", "\u2028.control", "\n",
              " ", "\t", "\r", "\x1b[2J", "\u0085shell", "\x0bshell"]
BAD_CHARS = (list(" \t\n\r\x00\x0b\x0c_,;'\"{}$*()|&<>\\/`#=:!?@%^~") +
             ["\u0662", "\uff16", "\u00a0", "\u200b", "\ufeff", "\u2028", "\u00e9", "\u0131", "\x1b", "\x7f",
              "\udcff", "\u2212", "\uff0e", "e", "x", "b", "-", "+", ".", "0"])
DIGIT_ZEROS = [0x660, 0x6F0, 0x966, 0x9E6, 0xE50, 0xFF10, 0x1D7CE]  # other scripts' digits 0..9
FLOAT_JUNK = ["nan", "NaN", "-nan", "inf", "-inf", "+inf", "Infinity", "infinity", "1e999", "-1e999", "1e309",
              "1_0", "1_0.5", "0x1p-2", "1,8", "1.8.0", "1e", "e5", ".", "+.", "1e+", "--1", "+-1.8", "1.8f",
              "1.8V", "1.8 V", "1.8u", "1.8meg", "1k", "", " ", "0x1", "0b1", "1/2", "(1.8)", "{1.8}", "1.8;",
              "\u0661.\u0668", "\uff11.\uff18", "\uff11\uff0e\uff18", "1.8 ", " 1.8", "1.8\n", "1.8\n.control",
              "\u22121.0", "1.8\u00a0", "True", "None", "1j", "0.5e1.5", "1e5e5", "1.8\x00"]
INT_JUNK = ["010", "00", "007", "+010", "0x", "0X", "0x_", "0b", "0b_", "0x1__2", "0x_1", "0b_1", "1_0", "1__0",
            "1.0", "1.", "1e2", "0o10", "0o", "--1", "+-1", "-+1", "1 ", " 1", "\u0662", "\uff16\uff14", "0xg",
            "0b2", "+", "-", "", "0x1p2", "True", "None", "1j", "4\n.control", "4\x00", "\u0664", "\u0e54",
            "0\u0078\u0031", "0\uff581", "four", "IV", "4.5", "4e0", "0x" + "0" * 70 + "1"]
WORD_JUNK = ["-1", "+1", "-0", "+0", "0x", "0X", "0x-1", "0x+1", "1_000", "0b101", "0o7", "1.0", "1e3", "0xg",
             " 1", "1 ", "0x 1", "0x1 ", "\uff10x1", "0\uff581", "\u0660x1", "01", "00", "000", "0_0", "",
             "0x" + "f" * 17, "0x" + "0" * 17, "0x0123456789abcdef0", "18446744073709551616",
             "99999999999999999999", "0x1\n.control", "0x1\x00", "0x_1", "0x1_0", "\u0661\u0662", "0xffff_ffff",
             "x1", "0xx1", "h1", "1h", "$1", "#1", "0x1.0", "inf", "nan", "None"]


def _to_script(text: str, zero: int) -> str:
    return "".join(chr(zero + ord(c) - 48) if "0" <= c <= "9" else c for c in text)


def _fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


@functools.lru_cache(maxsize=None)
def malformed_text(spec: tuple):
    """Texts that break the rules for ``spec``: built malformed, filtered by the oracle."""
    base = valid_text(spec)
    generic = st.one_of(
        st.tuples(base, st.sampled_from(INJECTIONS)).map(lambda t: t[0] + t[1]),
        st.tuples(base, st.sampled_from(BAD_CHARS), st.integers(0, 100)).map(
            lambda t: t[0][:t[2] % (len(t[0]) + 1)] + t[1] + t[0][t[2] % (len(t[0]) + 1):]),
        st.tuples(base, st.sampled_from(BAD_CHARS), st.integers(0, 100)).map(  # replace one character
            lambda t: t[0][:t[2] % len(t[0])] + t[1] + t[0][t[2] % len(t[0]) + 1:] if t[0] else t[1]),
        st.tuples(base, st.sampled_from([" ", "\t", "\n", "\u00a0", "\u3000", "\r\n", "\x00"]), st.booleans()).map(
            lambda t: t[1] + t[0] if t[2] else t[0] + t[1]),
        st.text(max_size=40),
        st.just(""),
    )
    kind = spec[0]
    if kind in ("float", "int", "word"):
        generic = st.one_of(generic, st.tuples(base, st.sampled_from(DIGIT_ZEROS)).map(lambda t: _to_script(*t)),
                            base.map(_fullwidth))
    if kind == "float":
        lo, hi = spec[1], spec[2]
        specific = st.one_of(
            st.floats(max_value=lo, exclude_max=True, allow_nan=False, allow_infinity=False).map(repr),
            st.floats(min_value=hi, exclude_min=True, allow_nan=False, allow_infinity=False).map(repr),
            st.sampled_from(FLOAT_JUNK),
            st.integers(64, 100).map(lambda n: "0" * n + "1.0"),  # longer than 64 characters
            st.integers(310, 400).map(lambda n: f"1e{n}"),  # overflows to inf
        )
    elif kind == "int":
        lo, hi = spec[1], spec[2]
        out_of_range = st.integers(max_value=lo - 1) | st.integers(min_value=hi + 1)
        specific = st.one_of(
            out_of_range.flatmap(lambda n: st.sampled_from([str(n), hex(n), bin(n), f"+{n}" if n >= 0 else str(n)])),
            st.sampled_from(INT_JUNK),
            st.integers(0, 10 ** 6).map(lambda n: "0" + str(n)),  # leading zeros
            st.integers(1, 10 ** 6).map(lambda n: f"{n}.0"),
        )
    elif kind == "word":
        specific = st.one_of(
            st.integers(max_value=-1).map(str),
            st.integers(min_value=2 ** 64).flatmap(lambda n: st.sampled_from([str(n), f"0x{n:x}"])),
            st.text(alphabet="0123456789abcdefABCDEF", min_size=17, max_size=40).map(lambda s: "0x" + s),
            st.integers(0, 10 ** 18).map(lambda n: "0" + str(n)),
            st.integers(0, 2 ** 64 - 1).map(lambda n: f"{n:_}" if n >= 1000 else f"-{n}"),
            st.sampled_from(WORD_JUNK),
        )
    elif kind == "choice":
        specific = st.one_of(
            st.sampled_from(spec[1]).flatmap(lambda c: st.sampled_from(
                [c.upper(), c.title(), " " + c, c + " ", c + "\n", c * 2, c[:-1], c + "\x00", c + "\n.control",
                 _fullwidth(c), c.replace("t", "\u0442")])),
            st.text(max_size=12),
            st.from_regex(r"[A-Za-z_][A-Za-z0-9_-]{0,20}", fullmatch=True),
        )
    else:  # cell
        specific = st.one_of(
            st.sampled_from(["buf_1", "fa_1", "ha_1", "nand2_1", "dfxtp_1", "inv", "inv_", "1inv_1", "inv-1",
                             "inv 1", "INV_1", "inv_1\n.control", "../inv_1", "inv_1;", "inv_1 shell",
                             "\u0131nv_1", "inv_\u0661"]),
            st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,20}", fullmatch=True),
            st.integers(65, 100).map(lambda n: "inv_" + "1" * (n - 4)),  # longer than 64 characters
        )
    return st.one_of(generic, specific).filter(lambda s: not might_be_valid(spec, s))


def simulate_argv(tb: str, items: list[str], json_flag: bool, plot: Path | None) -> list[str]:
    argv = ["simulate", tb, *[f"--set={item}" for item in items], "--dry-run"]
    if json_flag:
        argv.append("--json")
    if plot is not None:
        argv += ["--plot", str(plot)]
    return argv


@st.composite
def bad_value_case(draw):
    tb = draw(st.sampled_from(sorted(CATALOG)))
    params = CATALOG[tb]
    name = draw(st.sampled_from(sorted(params)))
    bad = draw(malformed_text(params[name]))
    others = draw(st.lists(st.sampled_from(sorted(set(params) - {name})), unique=True, max_size=3))
    items = [f"{o}={draw(valid_text(params[o]))}" for o in others]
    items.insert(draw(st.integers(0, len(items))), f"{name}={bad}")
    return tb, items


@fuzz_settings(300)
@given(case=bad_value_case(), json_flag=st.booleans(), with_plot=st.booleans())
def test_simulate_malformed_value(case, json_flag, with_plot, guarded, tmp_path):
    tb, items = case
    with workdir(tmp_path, guarded) as (d, netlists):
        plot = d / "wave.png" if with_plot else None
        assert_refused(simulate_argv(tb, items, json_flag, plot), d, netlists, outputs=[p for p in [plot] if p])


_IDENT = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,24}", fullmatch=True)


@st.composite
def bad_assignment_case(draw):
    """Structurally wrong ``--set`` lists: unknown name, no '=', empty name, a name given twice,
    or an unknown testbench."""
    tb = draw(st.sampled_from(sorted(CATALOG)))
    params = CATALOG[tb]
    kind = draw(st.sampled_from(["unknown", "no_equals", "empty_name", "twice", "unknown_tb"]))
    others = draw(st.lists(st.sampled_from(sorted(params)), unique=True, max_size=3))
    items = [f"{o}={draw(valid_text(params[o]))}" for o in others]
    if kind == "unknown":
        name = draw(st.one_of(
            _IDENT, st.text(min_size=1, max_size=20),
            st.sampled_from(sorted(params)).flatmap(lambda n: st.sampled_from(
                [n.upper(), n.title(), " " + n, n + " ", n + "\n", n + "\x00", n + "_", _fullwidth(n)])),
        ).filter(lambda n: "=" not in n and n not in params))
        value = draw(st.one_of(st.just("1"), st.just("tt"), st.text(max_size=10)))
        items.insert(draw(st.integers(0, len(items))), f"{name}={value}")
    elif kind == "no_equals":
        items.insert(draw(st.integers(0, len(items))),
                     draw(st.one_of(st.sampled_from(sorted(params)), st.text(max_size=20)).filter(lambda s: "=" not in s)))
    elif kind == "empty_name":
        items.insert(draw(st.integers(0, len(items))), "=" + draw(st.one_of(st.just(""), st.text(max_size=10))))
    elif kind == "twice":
        name = draw(st.sampled_from(sorted(params)))
        items = [i for i in items if i.partition("=")[0] != name]
        for _ in range(2):
            items.insert(draw(st.integers(0, len(items))), f"{name}={draw(valid_text(params[name]))}")
    else:
        from characterize.testbenches import available
        tb = draw(st.one_of(st.text(max_size=20), st.sampled_from(sorted(CATALOG)).map(str.upper),
                            st.sampled_from(sorted(CATALOG)).map(lambda s: s + " "), st.just("")).filter(
            lambda s: s not in available() and not s.startswith("-")))
    return tb, items


@fuzz_settings(100)
@given(case=bad_assignment_case(), json_flag=st.booleans())
def test_simulate_malformed_assignment(case, json_flag, guarded, tmp_path):
    tb, items = case
    with workdir(tmp_path, guarded) as (d, netlists):
        assert_refused(simulate_argv(tb, items, json_flag, None), d, netlists)


def test_catalog_matches_testbenches():
    """The catalog above is what the library declares (else 'malformed by construction' is not)."""
    import dataclasses

    from characterize.testbenches import get_testbench

    for tb_name, params in CATALOG.items():
        fields = {f.name: f for f in dataclasses.fields(get_testbench(tb_name).params_type)}
        assert set(params) == set(fields), tb_name
        for name, spec in params.items():
            meta = fields[name].metadata
            if spec[0] in ("float", "int"):
                assert (meta["min_value"], meta["max_value"]) == spec[1:], (tb_name, name)
            elif spec[0] == "word":
                assert meta.get("word"), (tb_name, name)
            elif spec[0] == "choice":
                assert tuple(meta["choices"]) == spec[1], (tb_name, name)
            else:
                assert "choices" not in meta and not meta.get("word"), (tb_name, name)


def test_simulate_valid_dry_run_passes(guarded, tmp_path):
    """Control: the harness accepts a valid --dry-run (exit 0) without simulating."""
    with workdir(tmp_path, guarded) as (d, netlists):
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = main(["simulate", "bdpe-op", "--set=stored=0xffffffffffffffff", "--set=input=18446744073709551615",
                       "--set=rows=0x40", "--set=vdd=1.8", "--dry-run"])
        assert rc == 0, err.getvalue()
        assert not netlists.exists()


# ----------------------------------------------------------------------------------------------
# 2. the campaign schema


def toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else toml_string(key)


def toml_string(text: str) -> str:
    out = ['"']
    for ch in text:
        o = ord(ch)
        assert not 0xD800 <= o <= 0xDFFF, "surrogates cannot be written in TOML"
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif o < 0x20 or o == 0x7F or not ch.isprintable():
            out.append(f"\\u{o:04x}" if o <= 0xFFFF else f"\\U{o:08x}")
        else:
            out.append(ch)
    return "".join(out) + '"'


def toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
    if isinstance(v, str):
        return toml_string(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{toml_key(k)} = {toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(type(v))


def to_toml(data: dict) -> str:
    lines = [f"{toml_key(k)} = {toml_value(v)}" for k, v in data.items() if not isinstance(v, dict)]
    for section, body in data.items():
        if not isinstance(body, dict):
            continue
        if section == "operations" and body and all(isinstance(b, dict) for b in body.values()):
            for name, op in body.items():
                lines.append(f"\n[operations.{toml_key(name)}]")
                lines += [f"{toml_key(k)} = {toml_value(v)}" for k, v in op.items()]
        else:
            lines.append(f"\n[{toml_key(section)}]")
            lines += [f"{toml_key(k)} = {toml_value(v)}" for k, v in body.items()]
    return "\n".join(lines) + "\n"


SMOKE_TEXT = SMOKE.read_text()
BASE = tomllib.loads(SMOKE_TEXT)

# schema, written out (as in ``bdpe characterize --help``)
SCHEMA_KINDS = {
    ("campaign", "name"): "str", ("campaign", "description"): "str", ("campaign", "technology"): "str",
    ("rram", "model"): "str", ("rram", "parameter_set"): "str",
    ("simulator", "timeout_s"): "float", ("simulator", "retries"): "int", ("simulator", "max_points"): "int",
    ("seeds", "variability"): "int",
    ("axes", "corner"): "list[str]", ("axes", "vdd"): "list[float]", ("axes", "temperature"): "list[float]",
}
SECTIONS = sorted({s for s, _ in SCHEMA_KINDS})
OPERATION_NAMES = sorted(__import__("characterize.procedures", fromlist=["OPERATIONS"]).OPERATIONS)  # the registry
OP_TESTBENCH_FIELDS = {"inverter_chain": set(CATALOG["inverter-chain"]), "rc_step": set(CATALOG["rc-step"])}

_printable = st.characters(blacklist_categories=("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp")).filter(str.isprintable)
_ptext = st.text(alphabet=_printable, max_size=12)
_scalar = st.one_of(st.booleans(), st.integers(-10 ** 6, 10 ** 6), st.floats(allow_nan=False), _ptext)
_toml_any = st.recursive(_scalar, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_IDENT, inner, max_size=3),
                         max_leaves=6)


def _wrong_type_values(kind: str):
    dicts = st.dictionaries(_IDENT, _scalar, max_size=2)
    if kind == "str":
        return st.one_of(st.integers(), st.floats(), st.booleans(), st.lists(_ptext, max_size=3), dicts)
    if kind == "float":
        return st.one_of(st.sampled_from(["600.0", "1.8", "", "inf"]), _ptext, st.booleans(),
                         st.lists(st.floats(0.1, 10), max_size=2), dicts)
    if kind == "int":
        return st.one_of(st.floats(), st.sampled_from([1.0, 0.0, 3.0]), st.sampled_from(["1", "0", ""]), _ptext,
                         st.booleans(), st.lists(st.integers(0, 3), max_size=2), dicts)
    if kind == "list[str]":
        return st.one_of(st.sampled_from(["tt", ""]), st.just([]), st.lists(st.integers(), min_size=1, max_size=3),
                         st.just(["tt", 1]), st.just([["tt"]]), st.just([True]), st.integers(), dicts, st.floats())
    # list[float]
    return st.one_of(st.floats(0.1, 5), st.just([]), st.just(["1.8"]), st.just([True]), st.just([1.8, "x"]),
                     st.just([[1.8]]), st.just([{"a": 1.8}]), _ptext, dicts, st.booleans())


def _insert(draw, seq: list, value) -> list:
    seq = list(seq)
    seq.insert(draw(st.integers(0, len(seq))), value)
    return seq


def _set(data: dict, section: str, key: str, value) -> None:
    if not isinstance(data.get(section), dict):
        data[section] = {}
    data[section][key] = value


_DEEP = "@@deeply-nested-value@@"  # placeholder replaced by the nested text after serialization


CAMPAIGN_MUTATIONS = ["unknown_section", "unknown_key", "wrong_type", "out_of_range", "unknown_operation",
                      "unknown_op_key", "unknown_tb_param", "duplicate_axis", "control_text", "long_text",
                      "fixed_override", "shared_in_op", "bad_op_param", "max_points", "too_many_points", "syntax",
                      "deep_value", "deep_header", "missing", "not_a_table", "empty"]


@st.composite
def malformed_campaign(draw):
    """(kind, TOML text) of a campaign that breaks the schema."""
    data = copy.deepcopy(BASE)
    kind = draw(st.sampled_from(CAMPAIGN_MUTATIONS))
    ops = data["operations"]
    if kind == "unknown_section":
        name = draw(_IDENT.filter(lambda n: n not in SECTIONS and n != "operations"))
        data[name] = draw(st.one_of(st.dictionaries(_IDENT, _scalar, max_size=3), _scalar))
    elif kind == "unknown_key":
        section = draw(st.sampled_from(SECTIONS))
        key = draw(_IDENT.filter(lambda k: (section, k) not in SCHEMA_KINDS))
        _set(data, section, key, draw(_toml_any))
    elif kind == "wrong_type":
        section, key = draw(st.sampled_from(sorted(SCHEMA_KINDS)))
        _set(data, section, key, draw(_wrong_type_values(SCHEMA_KINDS[(section, key)])))
    elif kind == "out_of_range":
        what = draw(st.sampled_from(["vdd", "temperature", "retries", "timeout_s", "max_points", "corner",
                                     "technology", "model", "parameter_set"]))
        if what == "vdd":
            bad = draw(st.one_of(st.floats(max_value=0.0), st.floats(min_value=5.5, exclude_min=True),
                                 st.integers(max_value=0), st.integers(min_value=6)))
            data["axes"]["vdd"] = _insert(draw, data["axes"]["vdd"], bad)
        elif what == "temperature":
            bad = draw(st.one_of(st.floats(max_value=-273.15), st.floats(min_value=200.0, exclude_min=True),
                                 st.integers(max_value=-274), st.integers(min_value=201)))
            data["axes"]["temperature"] = _insert(draw, data["axes"]["temperature"], bad)
        elif what == "retries":
            data["simulator"]["retries"] = draw(st.integers(max_value=-1) | st.integers(min_value=4))
        elif what == "timeout_s":
            data["simulator"]["timeout_s"] = draw(st.one_of(st.floats(max_value=0.0), st.integers(max_value=0),
                                                            st.floats(min_value=7 * 86400, exclude_min=True),
                                                            st.integers(min_value=7 * 86400 + 1)))
        elif what == "max_points":
            data["simulator"]["max_points"] = draw(st.integers(max_value=0))
        elif what == "corner":
            data["axes"]["corner"] = _insert(draw, data["axes"]["corner"],
                                             draw(_ptext.filter(lambda c: c not in CORNERS)))
        elif what == "technology":
            data["campaign"]["technology"] = draw(_ptext.filter(lambda t: t not in ("sky130", "ideal")))
        elif what == "model":
            data["rram"]["model"] = draw(_ptext.filter(lambda t: t not in MODELS))
        else:
            data["rram"]["parameter_set"] = draw(_ptext.filter(lambda t: t not in PSETS))
    elif kind == "unknown_operation":
        name = draw(_IDENT.filter(lambda n: n not in OPERATION_NAMES))
        ops[name] = draw(st.sampled_from([{}, {"axes": {"vdd": [1.8]}}, {"params": {}}]))
    elif kind == "unknown_op_key":
        op = draw(st.sampled_from(sorted(ops)))
        key = draw(_IDENT.filter(lambda k: k not in ("axes", "params")))
        ops[op][key] = draw(_toml_any)
    elif kind == "unknown_tb_param":
        op = draw(st.sampled_from(["inverter_chain", "rc_step"]))
        key = draw(_IDENT.filter(lambda k: k not in OP_TESTBENCH_FIELDS[op]))
        where = draw(st.sampled_from(["axes", "params"]))
        ops.setdefault(op, {}).setdefault(where, {})[key] = [1.0] if where == "axes" else 1.0
    elif kind == "duplicate_axis":
        where = draw(st.sampled_from(["corner", "vdd", "temperature", "amplitude_V", "state"]))
        if where in ("corner", "vdd", "temperature"):
            values = data["axes"][where]
            dup = draw(st.sampled_from(values))
            if isinstance(dup, float) and dup.is_integer() and draw(st.booleans()):
                dup = int(dup)  # 27 and 27.0 are the same axis value
            data["axes"][where] = _insert(draw, values, dup)
        else:
            op = "rram_set" if where == "amplitude_V" else "cell_read"
            values = ops[op]["axes"][where]
            ops[op]["axes"][where] = _insert(draw, values, draw(st.sampled_from(values)))
    elif kind == "control_text":
        key = draw(st.sampled_from(["name", "description"]))
        text = data["campaign"][key]
        bad = draw(st.one_of(st.sampled_from(["\x00", "\x1b", "\n", "\r", "\t", "\x7f", "\x85", "\u2028", "\u200b",
                                              "\ufeff", "\x1b[2J", "\x1b]0;pwned\x07"]),
                             st.characters(whitelist_categories=("Cc", "Cf", "Co", "Zl", "Zp", "Zs")).filter(
                                 lambda c: not c.isprintable())))
        pos = draw(st.integers(0, len(text)))
        data["campaign"][key] = text[:pos] + bad + text[pos:]
    elif kind == "long_text":
        key = draw(st.sampled_from(["name", "description"]))
        data["campaign"][key] = draw(st.integers(1001, 5000).map(lambda n: "x" * n))
    elif kind == "fixed_override":
        op = draw(st.sampled_from(["bdpe_rram", "bdpe_register"]))
        value = draw(st.sampled_from(["register", "rram", "x"]))
        body = {"params": {"path": value}} if draw(st.booleans()) else {"axes": {"path": [value]}}
        if draw(st.booleans()):
            body = draw(st.sampled_from([{"axes": {"model": ["vteam"]}}, {"axes": {"parameter_set": ["default"]}}]))
        ops[op] = body
    elif kind == "shared_in_op":  # a shared axis as a per-operation axis (a fixed value in params is allowed)
        op = draw(st.sampled_from(["inverter_chain", "sense_xnor", "cell_read"]))
        key = draw(st.sampled_from(["vdd", "corner", "temperature_C"]))
        value = {"vdd": 1.8, "corner": "tt", "temperature_C": 27.0}[key]
        ops[op].setdefault("axes", {})[key] = [value]
    elif kind == "bad_op_param":
        key, value = draw(st.sampled_from([
            ("stages", 0), ("stages", 65), ("stages", -3), ("stages", 4.5), ("stages", True), ("stages", [4]),
            ("stages", "abc"), ("stages", "4\n.control"), ("stages", {"a": 1}), ("cell", "buf_1"), ("cell", 5),
            ("cell", "inv_1\n.control\nshell touch pwned"), ("cell", "1x"), ("load_F", -1e-15), ("load_F", "nan"),
            ("load_F", float("inf")), ("slew_s", 1.0), ("period_s", 0), ("period_s", "2e-9 shell")]))
        if draw(st.booleans()) and not isinstance(value, (list, dict)):
            ops["inverter_chain"]["axes"] = {key: [value]}
        else:
            ops["inverter_chain"]["params"] = {key: value}
    elif kind == "max_points":
        from characterize.campaign import parse_campaign, plan
        total = len(plan(parse_campaign(SMOKE_TEXT)))
        data["simulator"]["max_points"] = draw(st.integers(1, total - 1))
    elif kind == "too_many_points":  # > the default limit of 100000 points, counted before planning
        n = draw(st.integers(1600, 2500))
        data["axes"]["vdd"] = [round(1.0 + i * 1e-4, 4) for i in range(n)]
        ops["inverter_chain"] = {"axes": {"stages": list(range(1, 65))}}
    elif kind == "syntax":
        text = to_toml(data)
        how = draw(st.sampled_from(["dup_table", "dup_key", "unterminated", "unclosed", "garbage_line",
                                    "truncate", "bad_escape", "bad_header"]))
        if how == "dup_table":
            text += "\n[" + draw(st.sampled_from(SECTIONS)) + "]\n"
        elif how == "dup_key":
            text = text.replace("[campaign]\n", '[campaign]\nname = "again"\n', 1)
        elif how == "unterminated":
            text = text.replace('"smoke"', '"smoke', 1)
        elif how == "unclosed":
            text = text.replace("vdd = [1.6, 1.8]", "vdd = [1.6, 1.8", 1)
        elif how == "garbage_line":
            lines = text.split("\n")
            garbage = draw(st.from_regex(r"[A-Za-z0-9@$%&*(){}<>!?;]{1,20}", fullmatch=True))
            lines.insert(draw(st.integers(0, len(lines))), garbage)
            text = "\n".join(lines)
        elif how == "bad_escape":
            text = text.replace('"smoke"', '"sm\\qoke"', 1)
        elif how == "bad_header":
            text += draw(st.sampled_from(["\n[operations.\n", "\n[[operations]]\n[operations.x]\n", "\n[]\n",
                                          "\n[a b]\n", "\n[\"unterminated]\n"]))
        else:
            cut = draw(st.integers(0, len(text) - 1))
            try:  # the oracle is tomllib itself: keep only cuts that are not valid TOML
                tomllib.loads(text[:cut])
                text = text[:cut] + "\n[campaign]\n"  # valid TOML left: redeclare a table (invalid)
            except tomllib.TOMLDecodeError:
                text = text[:cut]
        return kind, text
    elif kind == "deep_value":
        depth = draw(st.integers(1, 3000))
        deep = "[" * depth + "1" + "]" * depth if draw(st.booleans()) else "{ a = " * depth + "1" + " }" * depth
        where = draw(st.sampled_from(["campaign.name", "axes.vdd", "simulator.retries", "zzz.deep",
                                      "operations.inverter_chain.axes", "operations.inverter_chain.params"]))
        if where.startswith("operations."):
            _, op, key = where.split(".")
            ops[op][key] = {"stages": _DEEP}
        else:
            section, key = where.split(".")
            _set(data, section, key, _DEEP)
        return kind, to_toml(data).replace(toml_string(_DEEP), deep)
    elif kind == "deep_header":
        depth = draw(st.integers(1, 5000))
        prefix = draw(st.sampled_from(["campaign.x", "zzz", "operations.inverter_chain.axes.stages",
                                       "operations.inverter_chain.params.cell", "operations.nope", "axes.vdd"]))
        return kind, to_toml(data) + "\n[" + ".".join([prefix] + ["a"] * depth) + "]\nk = 1\n"
    elif kind == "missing":
        what = draw(st.sampled_from(["campaign.name", "operations", "campaign"]))
        if what == "campaign.name":
            del data["campaign"]["name"]
        else:
            del data[what]
    elif kind == "not_a_table":
        section = draw(st.sampled_from(SECTIONS + ["operations"]))
        data[section] = draw(_scalar | st.lists(_scalar, max_size=2))
    else:  # empty
        what = draw(st.sampled_from(["operations", "corner", "vdd", "temperature", "op_axis", "text"]))
        if what == "operations":
            data["operations"] = {}
        elif what in ("corner", "vdd", "temperature"):
            data["axes"][what] = []
        elif what == "op_axis":
            ops["rram_set"]["axes"]["amplitude_V"] = []
        else:
            return kind, ""
    return kind, to_toml(data)


def test_deeply_nested_table_header_refused(guarded, tmp_path):
    """Regression for a case the fuzzer finds: ``[campaign.x.a.a...]`` ~1000 levels deep."""
    with workdir(tmp_path, guarded) as (d, netlists):
        toml = d / "c.toml"
        toml.write_text(SMOKE_TEXT + "\n[campaign.x" + ".a" * 2000 + "]\nk = 1\n")
        out, cache = d / "t.h5", d / "cache"
        argv = ["characterize", str(toml), "-o", str(out), "--cache", str(cache), "--no-progress"]
        assert_refused(argv, d, netlists, outputs=[out, cache], keep=["c.toml"])


def test_campaign_serializer_roundtrip():
    """Control: the unmutated campaign, written by to_toml, is valid and plans (nothing simulated)."""
    from characterize.campaign import parse_campaign, plan

    text = to_toml(copy.deepcopy(BASE))
    assert tomllib.loads(text) == BASE
    assert len(plan(parse_campaign(text))) > 1


@fuzz_settings(250)
@given(case=malformed_campaign())
def test_characterize_malformed_campaign(case, guarded, tmp_path):
    kind, text = case
    with workdir(tmp_path, guarded) as (d, netlists):
        toml = d / "c.toml"
        toml.write_text(text, encoding="utf-8")
        out, cache = d / "t.h5", d / "cache"
        argv = ["characterize", str(toml), "-o", str(out), "--cache", str(cache), "--no-progress"]
        assert_refused(argv, d, netlists, outputs=[out, cache], keep=["c.toml"])


# ----------------------------------------------------------------------------------------------
# 3. the table reader


def _base_tables():
    from characterize.tables import OperationTable

    axes = {"corner": np.array(["tt", "ss"], dtype=object), "vdd": np.array([1.6, 1.8]),
            "temperature": np.array([27.0])}
    units = {"corner": "-", "vdd": "V", "temperature": "degC"}
    shape = (2, 2, 1)
    tables = []
    for k, name in enumerate(["bdpe_rram", "bdpe_register"]):
        latency = (1.0 + k + np.arange(4.0).reshape(shape)) * 1e-9
        energy = (2.0 + k + np.arange(4.0).reshape(shape)) * 1e-13
        tables.append(OperationTable(
            name=name, axes=dict(axes), axis_units=dict(units),
            metrics={"latency_s": latency, "energy_J": energy}, metric_units={"latency_s": "s", "energy_J": "J"},
            metric_descriptions={"latency_s": "latency", "energy_J": "energy"},
            status=np.zeros(shape, dtype=np.int8), message=np.full(shape, "", dtype=object),
            attrs={"testbench": "bdpe-op"}))
    return tables


@pytest.fixture(scope="module")
def base_table(tmp_path_factory) -> Path:
    """A valid two-operation table file (written with the library's writer); copied for each example."""
    from characterize.tables import write_tables

    path = tmp_path_factory.mktemp("base") / "base.h5"
    write_tables(path, _base_tables(), {"campaign_sha256": "0" * 64, "campaign_name": "fuzz-base",
                                        "technology": "sky130"})
    return path


OPS = ["bdpe_rram", "bdpe_register"]
SHAPE = (2, 2, 1)
_vlen_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=20)

# mutations after which open_tables must raise TableError
STRUCTURAL = ["del_root_attr", "format_value", "version_value", "del_status", "status_float", "extra_group",
              "root_dataset", "wrong_shape_metric", "non_numeric_metric", "dup_axis", "message_shape", "del_axis",
              "truncate", "random_bytes", "bad_signature"]
# mutations after which the file may open but evaluate must refuse it
SEMANTIC = ["bad_metric_value", "drop_op", "drop_metric", "no_tt", "vdd_outside", "temperature_outside"]


def _format_value(draw):
    import h5py

    choice = draw(st.sampled_from(["text", "int", "float", "bool", "text_array", "int_array", "wrapped"]))
    if choice == "text":
        return draw(_vlen_text.filter(lambda s: s != "bdpe-tables")), None
    if choice == "wrapped":  # the right text, but as a 1-element array instead of a scalar string
        return np.array(["bdpe-tables"], dtype=object), h5py.string_dtype("utf-8")
    if choice == "int":
        return draw(st.integers(-2 ** 63, 2 ** 63 - 1)), None
    if choice == "float":
        return draw(st.floats()), None
    if choice == "bool":
        return np.bool_(draw(st.booleans())), None
    if choice == "text_array":
        values = draw(st.lists(st.one_of(st.just("bdpe-tables"), _vlen_text), min_size=1, max_size=3))
        return np.array(values, dtype=object), h5py.string_dtype("utf-8")
    return np.array(draw(st.lists(st.integers(-5, 5), min_size=1, max_size=3))), None


def _version_value(draw):
    import h5py

    choice = draw(st.sampled_from(["text", "int", "float", "bool", "int_array", "text_array"]))
    if choice == "text":
        return draw(st.one_of(st.sampled_from(["1", "1.0", "one", ""]), _vlen_text)), None
    if choice == "int":
        return draw(st.integers(-2 ** 63, 2 ** 63 - 1).filter(lambda n: n != 1)), None
    if choice == "float":
        return draw(st.one_of(st.just(1.0), st.floats())), None
    if choice == "bool":
        return np.bool_(draw(st.booleans())), None
    if choice == "int_array":
        return np.array(draw(st.lists(st.integers(-5, 5), min_size=1, max_size=3))), None
    return np.array(draw(st.lists(st.sampled_from(["1", "x"]), min_size=1, max_size=2)), dtype=object), \
        h5py.string_dtype("utf-8")


@st.composite
def table_mutation(draw, kinds):
    """A function that corrupts a copy of the base file in place, with its description."""
    import h5py

    kind = draw(st.sampled_from(kinds))
    op = draw(st.sampled_from(OPS))
    if kind == "truncate":
        frac = draw(st.floats(0.0, 1.0, exclude_max=True))
        return f"truncate to {frac:.4f} of the size", lambda p: p.write_bytes(p.read_bytes()[:int(frac * p.stat().st_size)])
    if kind == "random_bytes":
        blob = draw(st.binary(max_size=4096))
        return f"random bytes {blob[:16]!r}... ({len(blob)} B)", lambda p: p.write_bytes(blob)
    if kind == "bad_signature":
        i, x = draw(st.integers(0, 7)), draw(st.integers(1, 255))

        def flip(p):
            data = bytearray(p.read_bytes())
            data[i] ^= x
            p.write_bytes(bytes(data))
        return f"signature byte {i} ^= {x}", flip

    def h5(edit):
        def apply(p):
            with h5py.File(p, "r+") as f:
                edit(f)
        return apply

    if kind == "del_root_attr":
        attr = draw(st.sampled_from(["format", "format_version"]))
        return f"del attr {attr}", h5(lambda f: f.attrs.__delitem__(attr))
    if kind in ("format_value", "version_value"):
        attr = "format" if kind == "format_value" else "format_version"
        value, dtype = (_format_value if kind == "format_value" else _version_value)(draw)

        def retype(f):
            del f.attrs[attr]
            f.attrs.create(attr, value, dtype=dtype)
        return f"attr {attr} = {value!r}", h5(retype)
    if kind == "del_status":
        return f"del {op}/status", h5(lambda f: f[op].__delitem__("status"))
    if kind == "status_float":
        def status_float(f):
            del f[op]["status"]
            f[op].create_dataset("status", data=np.zeros(SHAPE))
        return f"{op}/status float", h5(status_float)
    if kind == "extra_group":
        name = draw(_IDENT.filter(lambda n: n not in OPS))
        inner = draw(st.sampled_from([None, "latency_s", "message", "corner"]))

        def extra_group(f):
            g = f.create_group(name)
            if inner:
                g.create_dataset(inner, data=np.zeros(SHAPE))
        return f"extra group {name!r} (inner dataset {inner})", h5(extra_group)
    if kind == "root_dataset":
        name = draw(_IDENT.filter(lambda n: n not in OPS))
        shape = tuple(draw(st.lists(st.integers(0, 3), max_size=3)))
        return f"root dataset {name!r} {shape}", h5(lambda f: f.create_dataset(name, data=np.zeros(shape)))
    if kind == "wrong_shape_metric":
        shape = tuple(draw(st.lists(st.integers(0, 3), max_size=4).filter(lambda s: tuple(s) != SHAPE)))
        name = draw(st.one_of(st.sampled_from(["latency_s", "energy_J"]), _IDENT.filter(
            lambda n: n not in ("status", "message", "corner", "vdd", "temperature"))))

        def wrong_shape(f):
            if name in f[op]:
                del f[op][name]
            f[op].create_dataset(name, data=np.ones(shape))
        return f"{op}/{name} of shape {shape}", h5(wrong_shape)
    if kind == "non_numeric_metric":
        dtype = draw(st.sampled_from([np.complex128, np.bool_]))

        def non_numeric(f):
            del f[op]["latency_s"]
            f[op].create_dataset("latency_s", data=np.ones(SHAPE, dtype=dtype))
        return f"{op}/latency_s of dtype {dtype.__name__}", h5(non_numeric)
    if kind == "dup_axis":
        axis = draw(st.sampled_from(["corner", "vdd"]))
        values = ["tt", "tt"] if axis == "corner" else [1.8, 1.8]

        def dup(f):
            f[op][axis][...] = np.array(values, dtype=object) if axis == "corner" else np.array(values)
        return f"{op}/{axis} = {values}", h5(dup)
    if kind == "message_shape":
        shape = tuple(draw(st.lists(st.integers(0, 3), max_size=3).filter(lambda s: tuple(s) != SHAPE)))

        def message_shape(f):
            del f[op]["message"]
            f[op].create_dataset("message", data=np.full(shape, "", dtype=object), dtype=h5py.string_dtype())
        return f"{op}/message of shape {shape}", h5(message_shape)
    if kind == "del_axis":
        axis = draw(st.sampled_from(["corner", "vdd", "temperature"]))
        return f"del {op}/{axis}", h5(lambda f: f[op].__delitem__(axis))
    # semantic
    if kind == "bad_metric_value":
        metric = draw(st.sampled_from(["latency_s", "energy_J"]))
        value = draw(st.sampled_from([math.nan, math.inf, -math.inf, 0.0, -1e-9]))
        everywhere = draw(st.booleans())

        def bad_value(f):
            if everywhere:
                f[op][metric][...] = value
            else:
                f[op][metric][0, 1, 0] = value  # tt, 1.8 V, 27 C: the point evaluate looks up
        return f"{op}/{metric}{'' if everywhere else '[tt,1.8,27]'} = {value}", h5(bad_value)
    if kind == "drop_op":
        return f"del {op}", h5(lambda f: f.__delitem__(op))
    if kind == "drop_metric":
        metric = draw(st.sampled_from(["latency_s", "energy_J"]))
        return f"del {op}/{metric}", h5(lambda f: f[op].__delitem__(metric))
    if kind == "no_tt":
        other = draw(_vlen_text.filter(lambda s: s not in ("tt", "ss")))

        def no_tt(f):
            f[op]["corner"][0] = other
        return f"{op}/corner[0] = {other!r}", h5(no_tt)
    if kind == "vdd_outside":
        lo = draw(st.one_of(st.floats(0.1, 1.7), st.floats(1.81, 5.0)))

        def vdd_outside(f):
            f[op]["vdd"][...] = np.array([lo, lo + 0.05])
        return f"{op}/vdd = [{lo}, {lo + 0.05}]", h5(vdd_outside)
    temp = draw(st.floats(-60, 150).filter(lambda t: abs(t - 27.0) > 1e-6))

    def temperature_outside(f):
        f[op]["temperature"][...] = np.array([temp])
    return f"{op}/temperature = [{temp}]", h5(temperature_outside)


def _check_tables(base_table: Path, mutation, structural: bool, guarded, tmp_path):
    from characterize.tables import TableError, open_tables

    label, mutate = mutation
    with workdir(tmp_path, guarded) as (d, netlists):
        path = d / "tables.h5"
        shutil.copyfile(base_table, path)
        mutate(path)
        if structural:
            try:
                open_tables(path)
            except TableError:
                pass
            except Exception as exc:  # noqa: BLE001 - any other class breaks the contract
                raise AssertionError(f"mutation: {label}: open_tables raised {type(exc).__name__}, "
                                     f"not TableError: {exc}") from None
            else:
                raise AssertionError(f"mutation: {label}: open_tables accepted the corrupted file")
        argv = ["evaluate", "--network", "yolov3-tiny", "--tables", str(path), "--json"]
        try:
            assert_refused(argv, d, netlists, keep=["tables.h5"])
        except AssertionError as exc:
            raise AssertionError(f"mutation: {label}\n{exc}") from None


def test_base_table_evaluates(base_table, guarded, tmp_path):
    """Control: the unmutated table file opens and evaluate accepts it (exit 0)."""
    from characterize.tables import open_tables

    path = tmp_path / "tables.h5"
    shutil.copyfile(base_table, path)
    assert open_tables(path).operations == OPS[::-1]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(["evaluate", "--network", "yolov3-tiny", "--tables", str(path), "--json"])
    assert rc == 0, err.getvalue()


@fuzz_settings(150)
@given(mutation=table_mutation(STRUCTURAL))
def test_corrupted_table_refused(mutation, base_table, guarded, tmp_path):
    _check_tables(base_table, mutation, True, guarded, tmp_path)


@fuzz_settings(60)
@given(mutation=table_mutation(SEMANTIC))
def test_unusable_table_refused_by_evaluate(mutation, base_table, guarded, tmp_path):
    _check_tables(base_table, mutation, False, guarded, tmp_path)


def test_format_attribute_wrapped_in_array_refused(base_table, guarded, tmp_path):
    """Regression for a case the fuzzer finds: root attribute ``format`` = ["bdpe-tables"] (an array)."""
    import h5py

    def wrap(f):
        del f.attrs["format"]
        f.attrs.create("format", np.array(["bdpe-tables"], dtype=object), dtype=h5py.string_dtype("utf-8"))

    def apply(p):
        with h5py.File(p, "r+") as f:
            wrap(f)
    _check_tables(base_table, ("attr format = array(['bdpe-tables'])", apply), True, guarded, tmp_path)


@fuzz_settings(30)
@given(value=st.one_of(st.integers(-2 ** 63, 2 ** 63 - 1), st.floats(), st.booleans().map(np.bool_),
                       st.lists(st.integers(-5, 5), min_size=1, max_size=3).map(np.array)))
def test_retyped_provenance_attribute_no_traceback(value, base_table, guarded, tmp_path):
    """A root attribute ``campaign_sha256`` that is not text (the writer always stores text): evaluate may
    ignore it (exit 0) or refuse the file (exit 2, one line), but must never crash."""
    import h5py

    with workdir(tmp_path, guarded) as (d, netlists):
        path = d / "tables.h5"
        shutil.copyfile(base_table, path)
        with h5py.File(path, "r+") as f:
            f.attrs["campaign_sha256"] = value
        out, err = io.StringIO(), io.StringIO()
        argv = ["evaluate", "--network", "yolov3-tiny", "--tables", str(path), "--json"]
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                rc = main(argv)
        except BaseException as exc:  # noqa: BLE001 - the property is "no crash"
            raise AssertionError(f"campaign_sha256={value!r}: main() raised {type(exc).__name__}: {exc}") from None
        text = err.getvalue()
        assert rc in (0, 2), f"campaign_sha256={value!r}: exit {rc}, stderr {text!r}"
        if rc == 2:
            assert text.startswith("bdpe: error: ") and text.count("\n") == 1 and text.endswith("\n"), text
        assert "Traceback" not in text
