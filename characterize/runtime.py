"""The simulation runtime: a frozen :class:`SimSpec` in, a :class:`SimResult` keyed by our probe names out.

This is the only module that imports PySpice (and only inside worker processes).

Execution model
---------------
* :class:`NgspiceSession` owns the one ngspice instance of a process.  It loads a deck (with the
  part of its technology library it uses) once and then runs many points on it with
  ``alterparam`` + ``reset``, ``option temp=...`` and the analysis command.  It keeps up to
  ``_HELD_DECKS`` circuits loaded and switches between them with ``setcirc`` (the least recently
  used one is removed with ``remcirc``), so it parses a deck again only when it has not held it
  recently.  After each run it sends ``destroy all`` (the result vectors).
* :class:`SimulationPool` runs sessions in worker processes (one ngspice each).  A run that exceeds
  its ``timeout_s`` or kills its worker fails alone: the worker is replaced and the other runs go on.
  Jobs are routed to a worker that already holds their deck ("load once, sweep many"); among the
  other decks the one with the most estimated work goes first.
* stderr lines are classified: notes ("Note:", gmin/source stepping, version warnings) are kept in
  ``SimResult.notes``; errors fail the run with the message.

Debug switch: with ``BDPE_NETLIST_DIR=DIR`` every netlist a worker loads is written to
``DIR/<sha256>.cir`` (and nothing is written when no simulation runs).  With
``BDPE_FULL_LIBRARY=1`` decks load the technology's whole model library instead of the subset
they use (:mod:`circuits.model_library`; identical results, ~5 s more per SKY130 load).
"""
from __future__ import annotations

import dataclasses
import hashlib
import logging
import multiprocessing
import os
import threading
import signal
import re
import time
from collections import deque
from dataclasses import dataclass, field
from multiprocessing.connection import wait as _wait_connections
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np

from circuits.netlist import NetlistValueError, check_deck_text, check_name, check_number, fmt
from circuits.technology import Technology

__all__ = [
    "Probe", "Tran", "Op", "SimSpec", "SimResult", "SimulationFailed",
    "NgspiceSession", "SimulationPool", "run", "classify_message", "ngspice_version",
]

# --------------------------------------------------------------------------------------------
# The specification (pure data, picklable)


@dataclass(frozen=True)
class Probe:
    """What to record: ``kind='v'`` a top-level node voltage, ``kind='i'`` the current through a
    top-level voltage source (ngspice sign: positive from the + terminal through the source)."""

    name: str
    kind: str
    target: str

    def __post_init__(self):
        check_name("probe name", self.name)
        if self.kind not in ("v", "i"):
            raise NetlistValueError("probe kind", self.kind, "is not 'v' or 'i'")
        # a top-level name, or a hierarchical node such as ``xsa.sn`` (voltage probes only)
        parts = self.target.split(".") if isinstance(self.target, str) else [self.target]
        for part in parts:
            check_name("probe target", part if len(parts) == 1 else part)
        if len(parts) > 1 and self.kind != "v":
            raise NetlistValueError("probe target", self.target, "hierarchical targets are voltage probes only")

    @property
    def vector(self) -> str:
        return self.target.lower() if self.kind == "v" else f"{self.target.lower()}#branch"


@dataclass(frozen=True)
class Tran:
    """Transient analysis; ``max_step_s`` bounds the internal time step."""

    step_s: float
    stop_s: float
    start_s: float = 0.0
    max_step_s: float | None = None
    uic: bool = False

    axis = "time"

    def command(self) -> str:
        step = check_number("tran step_s", self.step_s, strictly_positive=True)
        stop = check_number("tran stop_s", self.stop_s, strictly_positive=True)
        start = check_number("tran start_s", self.start_s, min_value=0.0)
        parts = ["tran", fmt(step), fmt(stop), fmt(start)]
        if self.max_step_s is not None:
            parts.append(fmt(check_number("tran max_step_s", self.max_step_s, strictly_positive=True)))
        if self.uic:
            parts.append("uic")
        return " ".join(parts)


@dataclass(frozen=True)
class Op:
    """DC operating point."""

    axis = None

    def command(self) -> str:
        return "op"


# ngspice's defaults: an option a spec sets is restored before the next spec that does not set it
# (ngspice options are global: they outlive ``reset``, ``destroy`` and ``remcirc``)
_OPTION_DEFAULTS = {"reltol": 1e-3, "abstol": 1e-12, "vntol": 1e-6, "chgtol": 1e-14, "gmin": 1e-12,
                    "method": "trap", "maxord": 2, "itl1": 100, "itl2": 50, "itl4": 10, "trtol": 7,
                    "gminsteps": 10, "srcsteps": 10, "pivtol": 1e-13, "xmu": 0.5,
                    "noopiter": 0}  # noopiter=1: the operating point starts with gmin stepping
_OPTION_NAMES = frozenset(_OPTION_DEFAULTS)
_OPTION_WORDS = frozenset({"gear", "trap", "trapezoidal"})


@dataclass(frozen=True)
class SimSpec:
    """One simulation: a deck (circuit only, no analyses, no ``.end``) and how to run it.

    ``params`` are values of ``.param`` names declared in the deck; they are applied with
    ``alterparam`` + ``reset`` so that sweeping them does not re-parse the deck (``reset`` still
    re-instantiates the models: ~9 ms with SKY130).  ``alters`` are ``(device, parameter, value)``
    changes of instance parameters applied with ``alter`` and no reset at all (the cheapest way to
    sweep source levels: ``("vdd", "dc", 1.6)``, ``("vin", "pulse", (0, 1.6, ...))``).
    ``options`` are simulator options (``reltol``, ``method=gear``, ...); ``fallback_options`` are
    other option sets tried in turn, on the circuit as loaded, when a transient stops ("timestep too
    small"): the result's label names the set that ran; the run's deadline grows by ``timeout_s``
    per fallback set (:meth:`time_allowed_s`: one budget for all the attempts).  ``seed`` (Monte Carlo
    with a technology's mismatch models) reseeds ngspice's random generator (``setseed``) right
    before the ``reset`` that instantiates the circuit, so every ``AGAUSS`` draw of the run follows
    from the seed and the loaded text alone (measured with ngspice 39: the same seed gives the same
    draws in any process after any history; ``set rndseed=N`` alone does not reseed; every
    ``reset`` draws anew).  Everything is validated before it reaches ngspice.
    """

    deck: str
    analysis: Tran | Op
    probes: tuple[Probe, ...]
    technology: Technology
    corner: str | None = None
    temperature_C: float = 27.0
    params: tuple[tuple[str, float], ...] = ()
    alters: tuple[tuple[str, str, object], ...] = ()
    options: tuple[tuple[str, object], ...] = ()
    timeout_s: float = 120.0
    label: str = ""
    seed: int | None = None
    fallback_options: tuple[tuple[tuple[str, object], ...], ...] = ()

    def __post_init__(self):
        # normalise mappings into sorted tuples so specs are hashable and deterministic
        if isinstance(self.params, Mapping):
            object.__setattr__(self, "params", tuple(sorted(self.params.items())))
        if isinstance(self.options, Mapping):
            object.__setattr__(self, "options", tuple(sorted(self.options.items())))
        object.__setattr__(self, "fallback_options", tuple(
            tuple(sorted(o.items())) if isinstance(o, Mapping) else tuple(o) for o in self.fallback_options))
        object.__setattr__(self, "probes", tuple(self.probes))
        object.__setattr__(self, "alters", tuple((d, p, tuple(v) if isinstance(v, (list, tuple)) else v)
                                                 for d, p, v in self.alters))
        self.validate()

    def validate(self) -> None:
        check_deck_text("deck", self.deck)
        if self.corner is not None:
            self.technology.check_corner(self.corner)
        check_number("temperature_C", self.temperature_C, min_value=-273.15, max_value=1000.0)
        check_number("timeout_s", self.timeout_s, strictly_positive=True)
        if self.seed is not None and (isinstance(self.seed, bool) or not isinstance(self.seed, int)
                                      or not 0 <= self.seed < 2 ** 31):
            raise NetlistValueError("seed", self.seed, "must be an integer in [0, 2^31)")
        declared = {m.lower() for m in re.findall(r"^\s*\.param\s+([A-Za-z_][A-Za-z0-9_]*)\s*=",
                                                  self.deck, flags=re.M | re.I)}
        for name, value in self.params:
            check_name("param name", name)
            check_number(name, value)
            if name.lower() not in declared:
                raise NetlistValueError(name, value, "is not a .param declared in the deck")
        for name, value in self.options + tuple(item for o in self.fallback_options for item in o):
            if name not in _OPTION_NAMES:
                raise NetlistValueError("option", name, f"is not a supported option ({', '.join(sorted(_OPTION_NAMES))})")
            if isinstance(value, str) and value in _OPTION_WORDS:
                continue
            check_number(name, value)
        for device, parameter, value in self.alters:
            check_name("alter device", device)
            check_name("alter parameter", parameter)
            for number in (value if isinstance(value, (tuple, list)) else (value,)):
                check_number(f"{device}.{parameter}", number)
        names = [p.name for p in self.probes]
        if len(set(names)) != len(names):
            raise NetlistValueError("probes", names, "has duplicate names")
        self.analysis.command()

    def netlist(self) -> str:
        """The full text handed to ngspice (title, technology library, deck, ``.end``)."""
        lines = ["* bdpe deck"]  # the per-point label stays out: it must not force a re-parse
        lines += self.technology.library_lines(self.corner)
        lines.append(self.deck.strip("\n"))
        lines.append(".end")
        return "\n".join(lines) + "\n"

    def declared_params(self) -> dict[str, str]:
        """Top-level ``.param NAME=VALUE`` lines of the deck (lower-case name -> value text)."""
        top = re.sub(r"^\s*\.subckt\b.*?^\s*\.ends\b[^\n]*$", "", self.deck, flags=re.M | re.I | re.S)
        return {m.group(1).lower(): m.group(2) for m in re.finditer(
            r"^\s*\.param\s+([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(\S+)\s*$", top, flags=re.M | re.I)}

    def param_assignments(self) -> list[tuple[str, str]]:
        """Every top-level parameter with the value this spec gives it (its own value, else the
        declared one): applied in full before a reset, so nothing an earlier spec set lingers."""
        values = self.declared_params()
        values.update({name.lower(): fmt(value) for name, value in self.params})
        return sorted(values.items())

    def params_as_declared(self) -> bool:
        """True when every parameter of the spec has the value its ``.param`` line declares (a
        freshly loaded deck needs no ``alterparam``/``reset`` then)."""
        declared = self.declared_params()
        return all(declared.get(name.lower()) == fmt(value) for name, value in self.params)

    def load_text(self, *, full_library: bool = False) -> str:
        """What the simulator loads: :meth:`netlist` with the technology's model subset in place of
        its whole library (``full_library=True``: the whole library, as written in :meth:`netlist`)."""
        lines = [f"* bdpe deck {self.deck_key()[:16]}"]  # the key names the circuit in ``setcirc``
        lines += self.technology.load_lines(self.corner, self.deck, full_library=full_library)
        lines.append(self.deck.strip("\n"))
        lines.append(".end")
        return "\n".join(lines) + "\n"

    def time_allowed_s(self) -> float:
        """The run's deadline, one budget for every attempt: ``timeout_s`` x (1 + fallback sets)."""
        return self.timeout_s * (1 + len(self.fallback_options))

    def deck_key(self) -> str:
        """Identity of the loaded circuit: what forces a re-parse when it changes."""
        text = "\n".join(self.technology.init_commands) + "\n" + self.netlist()
        if self.technology.model_load_identity():  # the same deck on edited cards is another circuit
            text += "\n* " + self.technology.model_load_identity()
        return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class SimResult:
    """Vectors keyed by probe name (plus the analysis axis ``time``/``sweep``), timings and notes."""

    label: str
    ok: bool
    vectors: dict[str, np.ndarray] = field(default_factory=dict)
    error: str | None = None
    error_kind: str | None = None  # "error" | "timeout" | "crash"
    stopped: bool = False  # failed: a transient that did not reach its stop time (SimulationFailed.stopped)
    notes: tuple[str, ...] = ()
    analysis_time_s: float = float("nan")
    wall_time_s: float = float("nan")
    load_time_s: float = 0.0
    reloaded: bool = False
    worker_pid: int | None = None
    held_keys: tuple[str, ...] = ()  # decks the worker holds after this run (the pool routes by them)

    def __getitem__(self, name: str) -> np.ndarray:
        return self.vectors[name]

    def raise_for_status(self) -> "SimResult":
        if not self.ok:
            raise SimulationFailed(self.label, self.error_kind or "error", self.error or "", stopped=self.stopped)
        return self


class SimulationFailed(RuntimeError):
    """A run failed; carries the run's label (the sweep point) and the kind of failure.
    ``stopped``: a transient that ran but did not reach its stop time (e.g. "timestep too small")."""

    def __init__(self, label: str, kind: str, message: str, *, stopped: bool = False):
        self.label, self.kind, self.message, self.stopped = label, kind, message, stopped
        super().__init__(f"simulation {label or '?'} failed ({kind}): {message}")


# --------------------------------------------------------------------------------------------
# Message classification

_NOTE_RE = re.compile(
    r"^(note:|warning:|\s*$)|gmin stepping|source stepping|unsupported ngspice version|"
    r"option scale|reset re-loads|^circuit:|^using spars|no\. of data rows|^doing analysis|"
    r"^\s*reference value|^\s*tran\w*:?\s*$|^total analysis time|stepping completed|"
    r"^\s*(simulation interrupted|background thread)", re.I)
_ERROR_RE = re.compile(
    r"error|timestep too small|singular matrix|aborted|fatal|can't find|cannot|could not|not found|"
    r"unknown (subckt|model|parameter|device)|no such|iteration limit|out of range|failed", re.I)


def classify_message(line: str) -> str:
    """``'error'`` for lines that mean the run failed, else ``'note'``."""
    text = line.strip()
    # ngspice prints "Trying gmin = ..." without a newline, so the next note ("Warning: Last gmin step
    # failed") lands on the same line: one failed stepping attempt, then it goes on stepping
    if re.match(r"^(note|warning):|^trying (gmin|source)\b", text, re.I):
        # a note stays a note even if it mentions failure of one stepping attempt
        return "error" if re.search(r"timestep too small|singular matrix", text, re.I) else "note"
    if _ERROR_RE.search(text) and not re.search(r"gmin stepping|source stepping", text, re.I):
        return "error"
    return "note"


# --------------------------------------------------------------------------------------------
# In-process session (runs inside a worker process)


_COMMANDS_BEFORE_RELEASE = 500
class _StaleCircuit(Exception):
    """A ``reset`` re-loaded another deck than the current circuit's."""


_FRESH = ("freshly loaded",)  # session state right after a deck is loaded (no reset needed)
# Circuits a session keeps loaded (ngspice holds several; ``setcirc`` switches between them): a
# whole-engine SKY130 deck takes ~0.6 GB, so 3 per worker stays far inside this machine's memory.
_HELD_DECKS = int(os.environ.get("BDPE_HELD_DECKS", "3")) if os.environ.get("BDPE_HELD_DECKS", "3").isdigit() else 3
_HELD_DECKS = max(1, _HELD_DECKS)  # BDPE_HELD_DECKS=N: fewer on a machine short of memory
_SAVE_CHARS = 800  # characters of vector names per save command, < ngspice's 1024 (NgspiceSession._prepare)


class NgspiceSession:
    """The ngspice instance of this process, with the currently loaded deck remembered."""

    def __init__(self, netlist_dir: str | None = None):
        logging.getLogger("PySpice").setLevel(logging.CRITICAL)
        from PySpice.Spice.NgSpice.Shared import NgSpiceShared  # the one PySpice import

        self._ng = NgSpiceShared.new_instance()
        self._loaded_key: str | None = None  # the current circuit
        self._held: dict[str, None] = {}  # every circuit ngspice holds, least recently used first
        self._state: tuple | None = None  # (params, temperature, options, altered) applied since reset
        self._init_done: tuple[str, ...] | None = None
        self._options_set: set[str] = set()  # options a spec changed from ngspice's defaults
        self._commands = 0
        self.netlist_dir = netlist_dir if netlist_dir is not None else os.environ.get("BDPE_NETLIST_DIR")
        # BDPE_FULL_LIBRARY=1: parse the technology's whole model library (the reference for the
        # model subset; the results are identical, only slower to load)
        self.full_library = os.environ.get("BDPE_FULL_LIBRARY", "") not in ("", "0")

    # -- low level
    def command(self, text: str) -> tuple[list[str], list[str]]:
        """Execute one ngspice command; returns (stdout lines, stderr lines)."""
        ng = self._ng
        self._commands += 1
        if self._commands >= _COMMANDS_BEFORE_RELEASE:
            # ngspice keeps every command in its control structures; NULL releases them
            from PySpice.Spice.NgSpice.Shared import FFI
            ng._ngspice_shared.ngSpice_Command(FFI.NULL)
            self._commands = 0
        ng.clear_output()
        rc = ng._ngspice_shared.ngSpice_Command(text.encode("ascii"))
        out, err = list(ng._stdout), list(ng._stderr)
        if rc:
            raise SimulationFailed("", "error", f"ngspice command {text.split()[0]!r} returned {rc}: "
                                   + "; ".join(err[-3:] or out[-3:]))
        return out, err

    def version(self) -> str:
        out, _ = self.command("version -s")
        text = " ".join(out)
        match = re.search(r"ngspice-(\S+)", text)
        return match.group(1) if match else text.strip()

    def _errors(self, lines: Iterable[str]) -> list[str]:
        return [line.strip() for line in lines if classify_message(line) == "error"]

    def _circuit_index(self, key: str) -> int | None:
        """ngspice's number of the held circuit whose title carries ``key`` (``setcirc`` lists them)."""
        out, _ = self.command("setcirc")
        for line in out:
            match = re.search(r"(\d+)\s+\* bdpe deck (\w+)", line)
            if match and key.startswith(match.group(2)):
                return int(match.group(1))
        return None

    def _switch(self, key: str) -> bool:
        """Make the held circuit ``key`` current (``setcirc``); False if ngspice does not hold it."""
        index = self._circuit_index(key)
        if index is None:
            self._held.pop(key, None)
            return False
        self.command(f"setcirc {index}")
        self._loaded_key = key
        self._held.pop(key)
        self._held[key] = None
        self._state = None  # its parameters, alters and the global options are re-applied with a reset
        return True

    def _drop(self, key: str) -> None:
        """Remove the held circuit ``key`` from ngspice (then the newest one left is current)."""
        self._held.pop(key, None)
        if self._loaded_key == key:
            self._loaded_key = None
        index = self._circuit_index(key)
        if index is not None:
            self.command(f"setcirc {index}")
            self.command("remcirc")
        if self._loaded_key is not None:
            current = self._circuit_index(self._loaded_key)
            if current is not None:
                self.command(f"setcirc {current}")

    def _load(self, spec: SimSpec) -> float:
        t0 = time.perf_counter()
        key = spec.deck_key()
        if key in self._held:  # a forced reload of a held circuit replaces it
            self._drop(key)
        # make room first: the deck loaded last is the one a later ``reset`` re-parses
        while len(self._held) >= _HELD_DECKS:
            self._drop(next(iter(self._held)))
        if self._init_done != spec.technology.init_commands:
            for cmd in spec.technology.init_commands:
                self.command(cmd)
            self._init_done = spec.technology.init_commands
        text = spec.load_text(full_library=self.full_library)
        if self.netlist_dir:
            os.makedirs(self.netlist_dir, exist_ok=True)
            with open(os.path.join(self.netlist_dir, f"{spec.deck_key()}.cir"), "w") as fh:
                fh.write(text)
        ng = self._ng
        from PySpice.Spice.NgSpice.Shared import FFI, ffi

        lines = [line for line in text.splitlines() if line] + [""]
        keep = [ffi.new("char[]", line.encode("utf8")) for line in lines] + [FFI.NULL]
        ng.clear_output()
        rc = ng._ngspice_shared.ngSpice_Circ(ffi.new("char *[]", keep))
        errors = self._errors(list(ng._stdout) + list(ng._stderr))
        if rc or errors:
            try:
                self.command("remcirc")
            except SimulationFailed:
                pass
            self._loaded_key = None
            raise SimulationFailed(spec.label, "error", "netlist rejected: " + "; ".join(errors[:5] or [f"rc={rc}"]))
        self._loaded_key = key
        self._held[key] = None
        self._state = _FRESH
        return time.perf_counter() - t0

    def _vector(self, plot: str, name: str) -> np.ndarray | None:
        from PySpice.Spice.NgSpice.Shared import FFI, ffi

        info = self._ng._ngspice_shared.ngGet_Vec_Info(f"{plot}.{name}".encode())
        if info == FFI.NULL or info.v_length <= 0:
            return None
        if info.v_realdata != FFI.NULL:
            return np.frombuffer(ffi.buffer(info.v_realdata, info.v_length * 8), dtype=np.float64).copy()
        raw = np.frombuffer(ffi.buffer(info.v_compdata, info.v_length * 16), dtype=np.float64)
        return raw[0::2] + 1j * raw[1::2]

    def _total_analysis_time(self) -> float:
        out, _ = self.command("rusage time")
        for line in out:
            match = re.search(r"Total analysis time \(seconds\) =\s*([\d.eE+-]+)", line)
            if match:
                return float(match.group(1))
        return float("nan")

    # -- one run
    def run(self, spec: SimSpec, *, force_reload: bool = False) -> SimResult:
        """Run one spec on this process's ngspice; raises :class:`SimulationFailed` on error.  A
        transient that stops is run again with each of ``spec.fallback_options`` in turn."""
        try:
            return self._run_once(spec, force_reload=force_reload)
        except SimulationFailed as exc:
            if not (exc.stopped and spec.fallback_options):
                raise
            tried, seen = [], {tuple(sorted(spec.options))}
            for options in spec.fallback_options:
                merged = tuple(sorted({**dict(spec.options), **dict(options)}.items()))  # on top of the spec's
                if merged in seen:  # nothing new to try
                    continue
                seen.add(merged)
                text = ", ".join(f"{k}={v if isinstance(v, str) else fmt(v)}" for k, v in options)
                retry = dataclasses.replace(spec, options=merged, fallback_options=(),
                                            label=f"{spec.label} [fallback: {text}]")
                try:
                    return self._run_once(retry)
                except SimulationFailed as again:
                    tried.append(f"fallback {text}: {again.message.splitlines()[0][:200] if again.message else again.kind}")
            raise SimulationFailed(spec.label, exc.kind, "; ".join([exc.message] + tried), stopped=True) from None

    def _run_once(self, spec: SimSpec, *, force_reload: bool = False) -> SimResult:
        t0 = time.perf_counter()
        reloaded = False
        load_time = 0.0
        key = spec.deck_key()
        if force_reload or (self._loaded_key != key and not (key in self._held and self._switch(key))):
            load_time = self._load(spec)
            reloaded = True
        try:
            try:
                self._prepare(spec)
            except _StaleCircuit:  # the held circuit could not be reset in place: parse it again
                self._discard_current()
                load_time += self._load(spec)
                reloaded = True
                try:
                    self._prepare(spec)
                except _StaleCircuit as exc:  # on a deck just parsed: a real error
                    raise SimulationFailed(spec.label, "error", f"parameters not applied: {exc}") from None
            analysis_before = self._total_analysis_time()
            out, err = self.command(spec.analysis.command())
            errors = self._errors(out + err)
            notes = tuple(line.strip() for line in err if line.strip() and classify_message(line) == "note")
            vectors, missing = self._collect(spec)
            stopped = any("timestep too small" in e.lower() for e in errors)
            if isinstance(spec.analysis, Tran) and not errors:
                t_end = vectors.get("time", np.array([0.0]))[-1]
                if t_end < spec.analysis.stop_s * (1 - 1e-9):
                    errors.append(f"transient stopped at {t_end:.4g} s of {spec.analysis.stop_s:.4g} s")
                    stopped = True
            if errors or missing:
                raise SimulationFailed(spec.label, "error", "; ".join(
                    errors[:5] + ([f"no vector for probes {missing}"] if missing else [])),
                    stopped=stopped and isinstance(spec.analysis, Tran))
            # ngspice accumulates analysis time until the next reset: take the difference
            analysis_time = self._total_analysis_time() - analysis_before
        except BaseException:
            self._state = None  # after a failure, start the next run from a clean reset
            raise
        finally:
            try:
                self.command("destroy all")
            except SimulationFailed:
                self.forget_current()

        return SimResult(label=spec.label, ok=True, vectors=vectors, notes=notes,
                         analysis_time_s=analysis_time, wall_time_s=time.perf_counter() - t0,
                         load_time_s=load_time, reloaded=reloaded, worker_pid=os.getpid())

    def _prepare(self, spec: SimSpec) -> None:
        """Bring the loaded circuit to ``spec``'s parameters, temperature, options and source levels."""
        altered = tuple((d, p) for d, p, _ in spec.alters)
        state = (spec.params, spec.temperature_C, spec.options, altered, spec.seed)
        if state != self._state:
            # reset re-instantiates the circuit from the stored deck: needed for new .param
            # values and to undo alters a new spec does not repeat.  A deck just loaded is in that
            # state already (temperature and options are applied by the next analysis): when its
            # parameters keep their declared values its reset is skipped (4-5 s for a whole-engine deck).
            for name, value in spec.param_assignments():
                out, err = self.command(f"alterparam {name}={value}")
                if self._errors(out + err):  # rc 0 even then; after a setcirc: "No internal deck available"
                    raise _StaleCircuit("; ".join(self._errors(out + err))[:300])
            if spec.seed is not None:  # the draws of the reset below follow from the seed alone
                self.command(f"setseed {spec.seed}")
            if self._state is not _FRESH or not spec.params_as_declared() or spec.seed is not None:
                self._reset(spec)
            # options after reset: reset re-reads the deck's own .options
            self.command(f"option temp={fmt(spec.temperature_C)}")
            wanted = dict(spec.options)
            for name in sorted(self._options_set - set(wanted)):
                default = _OPTION_DEFAULTS[name]
                self.command(f"option {name}={default if isinstance(default, str) else fmt(default)}")
            for name, value in spec.options:
                self.command(f"option {name}={value if isinstance(value, str) else fmt(value)}")
            self._options_set = set(wanted)
            self._state = state
        for device, parameter, value in spec.alters:
            if isinstance(value, tuple):
                self.command(f"alter @{device}[{parameter}] = [ {' '.join(fmt(v) for v in value)} ]")
            else:
                self.command(f"alter {device} {parameter} = {fmt(value)}")
        # in chunks: ngspice 39 drops what follows the first 1024 characters of a command (a 4-word
        # sense-ber deck lost 360 of its 517 probes); successive saves add to the list
        chunk: list[str] = []
        for vector in [p.vector for p in spec.probes] + [None]:
            if chunk and (vector is None or len(" ".join(chunk)) + len(vector) > _SAVE_CHARS):
                self.command("save " + " ".join(chunk))
                chunk = []
            if vector is not None:
                chunk.append(vector)

    def _reset(self, spec: SimSpec) -> None:
        """``reset``, checked: ngspice re-parses its most recently loaded deck, which after a
        ``setcirc`` or a ``remcirc`` of another circuit need not be the current one (measured:
        switch to circuit A after B was reset, reset, and B's deck is simulated). The reset names
        the circuit it re-loads; anything but ours raises :class:`_StaleCircuit`."""
        out, err = self.command("reset")
        if not any(f"bdpe deck {spec.deck_key()[:16]}" in line for line in out + err if "re-loads" in line):
            raise _StaleCircuit(spec.deck_key())

    def _discard_current(self) -> None:
        """Remove the current circuit, whatever deck ngspice re-parsed into it."""
        try:
            self.command("remcirc")
        except SimulationFailed:
            pass
        self._held.pop(self._loaded_key, None)
        self._loaded_key = None
        self._state = None

    def _collect(self, spec: SimSpec) -> tuple[dict[str, np.ndarray], list[str]]:
        """The analysis axis and every probe from the current plot; names of probes with no vector."""
        plot = self._ng._convert_string_array(self._ng._ngspice_shared.ngSpice_AllPlots())[0]
        vectors: dict[str, np.ndarray] = {}
        if spec.analysis.axis == "time":
            vec = self._vector(plot, "time")
            if vec is not None:
                vectors["time"] = vec.real if np.iscomplexobj(vec) else vec
        missing = []
        for probe in spec.probes:
            vec = self._vector(plot, probe.vector)
            if vec is None:
                missing.append(probe.name)
            else:
                vectors[probe.name] = vec
        return vectors, missing

    @property
    def held_keys(self) -> tuple[str, ...]:
        """Deck keys of the circuits this session holds (a run on one of them needs no parse)."""
        return tuple(self._held)

    def forget_current(self) -> None:
        """After an unexpected error: remove the current circuit, keep the others."""
        key = self._loaded_key
        if key is not None:
            try:
                self._drop(key)
            except SimulationFailed:
                self._held.pop(key, None)
        self._loaded_key = None
        self._state = None

    def close(self) -> None:
        for key in list(self._held):
            try:
                self._drop(key)
            except SimulationFailed:
                break
        self._held.clear()
        self._loaded_key = None


def ngspice_version() -> str:
    """The ngspice version, asked of a short-lived worker (never loads ngspice in the caller)."""
    with SimulationPool(1) as pool:
        return pool.version()


# --------------------------------------------------------------------------------------------
# Worker processes


def _worker_main(conn) -> None:  # pragma: no cover - runs in a child process
    session = NgspiceSession()
    while True:
        try:
            message = conn.recv()
        except EOFError:
            break
        if message is None:
            break
        kind, job_id, payload = message
        if kind == "version":
            conn.send((job_id, session.version()))
            continue
        spec, force_reload = payload
        try:
            result = session.run(spec, force_reload=force_reload)
        except SimulationFailed as exc:
            result = SimResult(label=spec.label, ok=False, error=exc.message, error_kind=exc.kind,
                               stopped=exc.stopped, worker_pid=os.getpid())
        except Exception as exc:  # a bug or a library error: this run fails, the worker goes on
            session.forget_current()
            result = SimResult(label=spec.label, ok=False, error=f"{type(exc).__name__}: {exc}",
                               error_kind="error", worker_pid=os.getpid())
        result.held_keys = session.held_keys
        conn.send((job_id, result))
    session.close()


_LOAD_ALLOWANCE_S = 60.0  # extra time for a run that must first parse a technology library


class _Worker:
    def __init__(self, ctx):
        parent, child = ctx.Pipe()
        self.process = ctx.Process(target=_worker_main, args=(child,), daemon=True)
        # Ctrl-C reaches the whole process group; the parent alone handles it (kills the workers and
        # exits 130). The child inherits a blocked SIGINT, so a worker never dies with a traceback
        # halfway through an ngspice callback. Blocking (not ignoring) keeps a Ctrl-C that arrives
        # during the start pending for the parent instead of losing it.
        in_main = threading.current_thread() is threading.main_thread()
        if in_main:
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            self.process.start()
        finally:
            if in_main:
                signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
        child.close()
        self.conn = parent
        self.loaded_key: str | None = None  # the deck of its last run
        self.held: frozenset[str] = frozenset()  # the decks its session holds (reported after each run)
        self.job: int | None = None
        self.deadline = float("inf")

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5)
        self.conn.close()

    def stop(self) -> None:
        try:
            self.conn.send(None)
        except (BrokenPipeError, OSError):
            pass
        self.process.join(10)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)
        self.conn.close()


class SimulationPool:
    """Worker processes, one ngspice each.  Use as a context manager.

    ``map(specs)`` returns results in order; a run that times out or crashes its worker yields a
    failed :class:`SimResult` (``error_kind`` ``timeout`` / ``crash``) and a fresh worker replaces it.
    """

    def __init__(self, workers: int = 1, *, start_method: str = "spawn"):
        if workers < 1:
            raise ValueError("workers must be >= 1")
        self._ctx = multiprocessing.get_context(start_method)
        self._workers = [_Worker(self._ctx) for _ in range(workers)]
        self.loads = 0  # decks (re)loaded by the workers for finished runs (tests, benchmarks)

    def __enter__(self) -> "SimulationPool":
        return self

    def __exit__(self, exc_type, *exc) -> None:
        self.close(kill=exc_type is not None)

    def close(self, *, kill: bool = False) -> None:
        """Stop the workers; ``kill=True`` (after an error or Ctrl-C) kills them at once."""
        for worker in self._workers:
            if kill:
                worker.kill()
            else:
                worker.stop()
        self._workers = []

    @property
    def worker_pids(self) -> list[int]:
        return [w.process.pid for w in self._workers]

    def version(self) -> str:
        worker = self._workers[0]
        worker.conn.send(("version", -1, None))
        return worker.conn.recv()[1]

    def run(self, spec: SimSpec, *, force_reload: bool = False) -> SimResult:
        return self.map([spec], force_reload=force_reload)[0]

    def map(self, specs: Sequence[SimSpec], *, force_reload: bool = False,
            on_result: Callable[[int, SimResult], None] | None = None) -> list[SimResult]:
        """Run all specs; ``on_result(index, result)`` is called as each one finishes."""
        for spec in specs:
            spec.validate()
        return _MapRun(self, specs, force_reload, on_result).run()


class _MapRun:
    """One ``SimulationPool.map``: jobs grouped by deck, dispatched to the worker that holds the
    deck, results collected as they come; a worker that hangs or dies is replaced."""

    def __init__(self, pool: SimulationPool, specs, force_reload: bool, on_result):
        self.pool, self.specs, self.force_reload, self.on_result = pool, specs, force_reload, on_result
        self.results: list[SimResult | None] = [None] * len(specs)
        self.groups: dict[str, deque[int]] = {}
        for index, spec in enumerate(specs):
            self.groups.setdefault(spec.deck_key(), deque()).append(index)
        self.remaining = len(specs)

    def run(self) -> list[SimResult]:
        workers = self.pool._workers
        for worker in workers:
            self.dispatch(worker)
        while self.remaining:
            busy = [w for w in workers if w.job is not None]
            if not busy:  # pragma: no cover - defensive
                raise RuntimeError("simulation pool stalled")
            timeout = max(0.0, min(w.deadline for w in busy) - time.monotonic())
            ready = _wait_connections([w.conn for w in busy], timeout=timeout)
            for worker in busy:
                if worker.conn in ready:
                    self.receive(worker)
                elif time.monotonic() >= worker.deadline:
                    self.replace(worker, "timeout",
                                 f"no result within {self.specs[worker.job].time_allowed_s():g} s; worker killed")
            for worker in workers:
                if worker.job is None:
                    self.dispatch(worker)
        return self.results  # type: ignore[return-value]

    def next_job(self, worker: _Worker) -> int | None:
        groups = self.groups
        if worker.loaded_key in groups and groups[worker.loaded_key]:
            key = worker.loaded_key
        else:
            live = [k for k, q in groups.items() if q]
            if not live:
                return None
            busy_keys = {w.loaded_key for w in self.pool._workers if w.job is not None}
            # prefer a deck the worker holds, then one nobody else is working on, then the group
            # with the most estimated work (longest first keeps two workers busy to the end)
            key = max(live, key=lambda k: (k in worker.held, k not in busy_keys, self.work(k)))
        return groups[key].popleft()

    def work(self, key: str) -> float:
        """Estimated work left in a deck's group: deck size x simulated time per run."""
        spec = self.specs[self.groups[key][0]]
        span = spec.analysis.stop_s if isinstance(spec.analysis, Tran) else 1e-9
        return len(self.groups[key]) * len(spec.deck) * span

    def dispatch(self, worker: _Worker) -> None:
        index = self.next_job(worker)
        if index is None:
            return
        spec = self.specs[index]
        worker.job = index
        # a first run on a worker also parses the deck: allow for the model library (~5 s for SKY130)
        needs_load = spec.deck_key() not in worker.held and spec.technology.library is not None
        worker.deadline = time.monotonic() + spec.time_allowed_s() + (_LOAD_ALLOWANCE_S if needs_load else 0.0)
        worker.loaded_key = spec.deck_key()
        worker.conn.send(("run", index, (spec, self.force_reload)))

    def receive(self, worker: _Worker) -> None:
        try:
            job_id, result = worker.conn.recv()
        except (EOFError, OSError):
            self.replace(worker, "crash", f"ngspice worker died (exit code {worker.process.exitcode})")
            return
        worker.job = None
        worker.held = frozenset(result.held_keys)
        if not result.ok:
            worker.loaded_key = None  # the worker may have dropped its deck
        self.finish(job_id, result)

    def finish(self, index: int, result: SimResult) -> None:
        self.results[index] = result
        self.remaining -= 1
        if result.reloaded:
            self.pool.loads += 1
        if self.on_result is not None:
            self.on_result(index, result)

    def replace(self, worker: _Worker, kind: str, message: str) -> None:
        index = worker.job
        worker.kill()
        workers = self.pool._workers
        workers[workers.index(worker)] = _Worker(self.pool._ctx)
        self.finish(index, SimResult(label=self.specs[index].label, ok=False, error=message, error_kind=kind,
                                     worker_pid=worker.process.pid))


def run(spec: SimSpec) -> SimResult:
    """Run one spec in a fresh worker process (crash and hang safe)."""
    with SimulationPool(1) as pool:
        return pool.run(spec)
