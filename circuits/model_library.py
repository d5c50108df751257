"""The smallest part of a SPICE model library that a deck needs, with identical results.

A foundry library such as SKY130's ``sky130.lib.spice`` selects a corner with ``.lib FILE tt``
and then includes ~45,000 lines: every device of the process (20 V FETs, ESD devices, SONOS
cells, BJTs, diodes, resistors, capacitors), most of which a given deck never instantiates.
ngspice parses all of it on every load (4-5 s for SKY130), which dominated our campaign time.

:func:`library_subset` flattens one corner section (following ``.include`` and ``.lib`` into the
files they name) into top-level statements and keeps:

* every statement that is not a definition (``.option scale=1.0u`` changes the whole deck);
* the ``.subckt`` blocks and ``.model`` cards whose names the deck uses, and, transitively, the
  subcircuits, models and ``.param`` statements their own text names.

A ``.param`` statement defines one or more names; it is kept whole when any of them is needed, so
parameter expressions are never cut apart.  Names are matched as whole identifiers,
case-insensitively (as ngspice does); over-matching only keeps more text, never changes a value,
because the kept statements keep their original order.  The result is proven identical to the
full library on the golden decks (tests/test_model_library.py): same vectors, bit for bit.

Everything here is pure text processing; :func:`subset_file` caches a subset on disk, named by the
hash of the library text, the corner and the set of root names.
"""
from __future__ import annotations

import functools
import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Statement", "flatten_section", "library_subset", "subset_file", "deck_identifiers", "instance_sizes",
           "cache_dir", "hoist_device_models"]

_IDENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ASSIGN_RE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*=")  # the name of a "name = value"
_EXPR_RE = re.compile(r"\{([^}]*)\}|'([^'\n]*)'")  # a braced or quoted expression
_INCLUDE_RE = re.compile(r"""^\.inc(?:lude)?\s+["']?([^"'\s]+)["']?\s*$""", re.I)
_LIB_CALL_RE = re.compile(r"""^\.lib\s+["']?([^"'\s]+)["']?\s+(\S+)\s*$""", re.I)
_LIB_START_RE = re.compile(r"^\.lib\s+(\S+)\s*$", re.I)
_ENDL_RE = re.compile(r"^\.endl\b", re.I)


@dataclass(frozen=True)
class Statement:
    """One top-level statement: its original lines, the names it defines and the names it uses."""

    text: str
    defines: frozenset[str]
    uses: frozenset[str]
    kind: str  # "param" | "subckt" | "model" | "other"
    body: tuple[str, ...] = ()  # a subckt block's own logical lines


def _logical_lines(path: Path) -> list[str]:
    """Lines of a file with comments dropped and ``+`` continuations joined by newlines."""
    out: list[str] = []
    for raw in path.read_text(errors="replace").splitlines():
        line = raw.rstrip()
        stripped = line.lstrip()
        if not stripped or stripped.startswith("*"):
            continue
        if stripped.startswith("+") and out:
            out[-1] += "\n" + line
        else:
            out.append(line)
    return out


def _section(lines: list[str], name: str, path: Path) -> list[str]:
    """The lines between ``.lib NAME`` and ``.endl`` of a library file."""
    inside, picked = False, []
    for line in lines:
        stripped = line.strip()
        start = _LIB_START_RE.match(stripped)
        if not inside and start and start.group(1).lower() == name.lower():
            inside = True
            continue
        if inside and _ENDL_RE.match(stripped):
            return picked
        if inside:
            picked.append(line)
    raise ValueError(f"no section {name!r} in {path}")


def _expand(lines: list[str], base: Path, depth: int) -> list[str]:
    if depth > 20:
        raise ValueError(f"includes nested deeper than 20 levels under {base}")
    out: list[str] = []
    for line in lines:
        first = line.split("\n", 1)[0].strip()
        include = _INCLUDE_RE.match(first)
        call = _LIB_CALL_RE.match(first)
        if include:
            target = (base / include.group(1)).resolve()
            out += _expand(_logical_lines(target), target.parent, depth + 1)
        elif call:
            target = (base / call.group(1)).resolve()
            out += _expand(_section(_logical_lines(target), call.group(2), target), target.parent, depth + 1)
        else:
            out.append(line)
    return out


def _statements(lines: list[str]) -> list[Statement]:
    """Group flattened lines into top-level statements (a ``.subckt`` ... ``.ends`` block is one)."""
    out: list[Statement] = []
    block: list[str] = []
    depth = 0
    for line in lines:
        head = line.lstrip().split(None, 1)[0].lower() if line.strip() else ""
        if head == ".subckt":
            depth += 1
        if depth:
            block.append(line)
            if head == ".ends":
                depth -= 1
                if depth == 0:
                    out.append(_statement("\n".join(block), tuple(block)))
                    block = []
            continue
        out.append(_statement(line))
    if block:
        raise ValueError("a .subckt block is not closed by .ends")
    return out


def _statement(text: str, body: tuple[str, ...] = ()) -> Statement:
    tokens = text.split()
    head = tokens[0].lower()
    idents = frozenset(m.lower() for m in _IDENT_RE.findall(text))
    if head == ".subckt":
        name = tokens[1].lower()
        return Statement(text, frozenset({name}), idents - {name}, "subckt", body)
    if head == ".model":
        name = tokens[1].lower().split(".", 1)[0]
        return Statement(text, frozenset({name}), idents - {name}, "model")
    if head == ".param":
        body = " ".join(text.replace("\n", " ").split()[1:]).replace("+", " ")
        names = frozenset(m.lower() for m in _ASSIGN_RE.findall(body))
        return Statement(text, names, idents - names, "param")
    return Statement(text, frozenset(), idents, "other")


@functools.lru_cache(maxsize=16)
def flatten_section(library: Path, corner: str) -> tuple[Statement, ...]:
    """Every top-level statement of ``.lib LIBRARY CORNER``, includes followed, in order."""
    library = Path(library).resolve()
    lines = _section(_logical_lines(library), corner, library)
    return tuple(_statements(_expand(lines, library.parent, 0)))


def library_subset(statements: tuple[Statement, ...], roots: frozenset[str],
                   sizes: dict[str, set | None] | None = None) -> str:
    """The text of the statements reachable from ``roots`` (lower-case names), in library order.

    With ``sizes`` (:func:`instance_sizes` of the deck), a device subcircuit whose transistor takes
    its ``l``/``w`` straight from the instance keeps only the ``.model NAME.N`` bins that one of
    its instances can select (ngspice copies every bin into every instance: dropping the ones no
    instance selects is what makes a large deck load quickly).  A bin is kept when some instance
    size lies inside its ``[lmin, lmax] x [wmin, wmax]`` with 0.1 % slack at both ends, for ``l``
    and ``w`` both scaled by the library's ``.option scale`` and not, and ``w`` also divided by
    ``nf``: a superset of the bins ngspice can choose, so it chooses the same one.
    """
    by_name: dict[str, list[int]] = {}
    for index, st in enumerate(statements):
        for name in st.defines:
            by_name.setdefault(name, []).append(index)
    keep = {i for i, st in enumerate(statements) if st.kind == "other"}
    todo = set(roots)
    for i in keep:
        todo |= statements[i].uses
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for index in by_name.get(name, ()):
            if index not in keep:
                keep.add(index)
                todo |= statements[index].uses - seen
    scale = _library_scale(statements)
    texts = []
    for i in sorted(keep):
        st = statements[i]
        device = next(iter(st.defines)) if st.kind == "subckt" else None
        if sizes is not None and device in sizes and sizes[device] is not None:
            texts.append(_pruned_block(st, sizes[device], scale))
        else:
            texts.append(st.text)
    return "\n".join(texts) + "\n"


def _library_scale(statements: tuple[Statement, ...]) -> float:
    for st in statements:
        if st.kind == "other":
            match = re.search(r"\bscale\s*=\s*(\S+)", st.text, re.I)
            if match and _spice_value(match.group(1)):
                return _spice_value(match.group(1))
    return 1.0


_BIN_RE = re.compile(r"^\.model\s+\S+\.\d+\s", re.I)
_BIN_LIMIT_RE = re.compile(r"\b(lmin|lmax|wmin|wmax)\s*=\s*([^\s]+)", re.I)


def _pruned_block(st: Statement, sizes: set[tuple[float, float, float]], scale: float) -> str:
    """A device subcircuit with the bins none of ``sizes`` can select left out."""
    direct = any(line.lstrip()[:1] in "mM" and re.search(r"\bl\s*=\s*\{l\}", line) and re.search(r"\bw\s*=\s*\{w\}", line)
                 for line in st.body)
    if not direct:
        return st.text
    return "\n".join(line for line in st.body if not _BIN_RE.match(line.lstrip()) or _selectable(line, sizes, scale))


def _selectable(card: str, sizes: set[tuple[float, float, float]], scale: float) -> bool:
    limits = {k.lower(): _spice_value(v) for k, v in _BIN_LIMIT_RE.findall(card)}
    if any(limits.get(k) is None for k in ("lmin", "lmax", "wmin", "wmax")):
        return True
    lo, hi = 1 - 1e-3, 1 + 1e-3
    for l_value, w_value, nf in sizes:
        for length in {l_value * scale, l_value}:
            for width in {w_value * scale, w_value, w_value * scale / nf, w_value / nf}:
                if (limits["lmin"] * lo <= length <= limits["lmax"] * hi
                        and limits["wmin"] * lo <= width <= limits["wmax"] * hi):
                    return True
    return False


def _deck_statements(deck: str, depth: int = 0) -> list[str]:
    """Logical lines of a deck and of the files it includes (standard-cell netlists), in order."""
    out: list[str] = []
    for line in deck.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("*"):
            continue
        include = _INCLUDE_RE.match(stripped)
        if include and depth < 20:
            path = Path(include.group(1))
            if path.is_file():
                out += _file_statements(path.resolve(), depth + 1)
            continue
        if stripped.startswith("+") and out:
            out[-1] += " " + stripped[1:]
        else:
            out.append(stripped)
    return out


@functools.lru_cache(maxsize=512)
def _file_statements(path: Path, depth: int) -> tuple[str, ...]:
    return tuple(_deck_statements(path.read_text(errors="replace"), depth))


def deck_identifiers(deck: str) -> frozenset[str]:
    """Lower-case identifiers of a deck and of the files it includes."""
    return frozenset(m.lower() for line in _deck_statements(deck) for m in _IDENT_RE.findall(line))


# part of every subset file's name: change it when the selection rules change, so no file written
# by an older rule is reused
_SUBSET_VERSION = "2"
_HOIST_VERSION = "2"  # part of a hoisted subset's name: a change of hoist_device_models makes new files

_SUFFIX = {"t": 1e12, "g": 1e9, "meg": 1e6, "k": 1e3, "mil": 25.4e-6, "m": 1e-3, "u": 1e-6, "n": 1e-9,
           "p": 1e-12, "f": 1e-15}
_NUMBER_RE = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?)(meg|mil|[tgkmunpf])?[a-z]*$", re.I)


def _spice_value(token: str) -> float | None:
    match = _NUMBER_RE.match(token.strip())
    if not match:
        return None
    return float(match.group(1)) * _SUFFIX.get((match.group(2) or "").lower(), 1.0)


def instance_sizes(deck: str, devices: frozenset[str]) -> dict[str, set[tuple[float, float, float]] | None]:
    """``(l, w, nf)`` of every instance of the subcircuits ``devices`` (lower-case names) in a deck
    and its included files; ``None`` for a device with an instance whose size is not a plain number
    (an expression): its bins must all stay."""
    sizes: dict[str, set | None] = {}
    for line in _deck_statements(deck):
        if line[0] not in "xX":
            continue
        tokens = line.replace("=", " = ").split()
        for k, token in enumerate(tokens[1:], 1):
            name = token.lower()
            if name in devices:
                break
        else:
            continue
        values = {"nf": "1"}  # l and w must be given: a device's own defaults are not read here
        rest = tokens[k + 1:]
        for j in range(len(rest) - 2):
            if rest[j + 1] == "=" and rest[j].lower() in ("l", "w", "nf"):
                values[rest[j].lower()] = rest[j + 2]
        parsed = tuple(_spice_value(values.get(key, "")) for key in ("l", "w", "nf"))
        if name in sizes and sizes[name] is None:
            continue
        if any(v is None or v <= 0 for v in parsed):
            sizes[name] = None
        else:
            sizes.setdefault(name, set()).add(parsed)
    return sizes


def cache_dir() -> Path:
    """Where subsets are kept: ``$BDPE_MODEL_CACHE``, else ``$XDG_CACHE_HOME/bdpe/models``
    (``~/.cache/bdpe/models``); the system's temporary directory if neither can be created."""
    explicit = os.environ.get("BDPE_MODEL_CACHE")
    base = Path(explicit) if explicit else Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "bdpe" / "models"
    try:
        base.mkdir(parents=True, exist_ok=True)
        if os.access(base, os.W_OK):
            return base
    except OSError:
        pass
    fallback = Path(tempfile.gettempdir()) / f"bdpe-models-{os.getuid()}"
    fallback.mkdir(mode=0o700, exist_ok=True)
    info = fallback.stat()
    if info.st_uid != os.getuid() or info.st_mode & 0o077:  # a directory someone else could fill
        raise OSError(f"{fallback} is not a private directory of this user")
    return fallback


def subset_file(library: Path, corner: str, deck: str, edits: tuple[tuple[str, str], ...] = (),
                hoist: bool = False) -> Path:
    """A file holding the subset of ``.lib LIBRARY CORNER`` that ``deck`` needs, written once and
    reused (by every deck that uses the same library names and device sizes).

    Its name hashes the library's flattened text, the corner, the library names the deck uses and
    the sizes of its device instances, so an edited library (or another corner) gives another file.
    ``edits`` (``(pattern, replacement)`` regular expressions, e.g. a technology's
    :attr:`~circuits.technology.Technology.model_edits`) are applied to the subset's text; they are
    part of the name too.  ``hoist``: :func:`hoist_device_models` is applied as well (also in the name).
    """
    library = Path(library)
    statements = flatten_section(library, corner)
    defined = _defined_names(library, corner)
    roots = deck_identifiers(deck) & defined
    devices = frozenset(st_name for st_name in roots if st_name in _binned_devices(library, corner))
    sizes = instance_sizes(deck, devices)
    digest = hashlib.sha256(_SUBSET_VERSION.encode() + _section_digest(library, corner).encode())
    digest.update(corner.encode() + b"\0" + ",".join(sorted(roots)).encode() + b"\0")
    digest.update(repr(sorted((k, None if v is None else sorted(v)) for k, v in sizes.items())).encode())
    if edits:
        digest.update(b"\0edits" + repr(tuple(edits)).encode())
    if hoist:
        digest.update(b"\0hoist" + _HOIST_VERSION.encode())
    path = cache_dir() / f"{library.stem}-{corner}-{digest.hexdigest()[:20]}.spice"
    if not path.is_file():
        text = library_subset(statements, roots, sizes)
        notes = []
        for pattern, replacement in edits:
            text, n = re.subn(pattern, replacement, text)
            if n and sizes:  # a deck without devices of the library has nothing to edit
                notes.append(f"* edited: {pattern} -> {replacement} ({n} times)\n")
        if hoist:
            text, n = hoist_device_models(text)
            notes.append(f"* device models moved out of {n} subcircuits (hoist_device_models)\n")
        write_atomic(path, f"* subset of {library} section {corner} (circuits.model_library)\n" + "".join(notes) + text)
    return path



def _cards(block: list[str]) -> tuple[list[list[str]], list[str]]:
    """(the ``.model`` cards of a subcircuit block, each with its ``+`` lines; the other lines)."""
    cards, rest, k = [], [], 0
    while k < len(block):
        if block[k].lstrip().lower().startswith(".model"):
            card = [block[k]]
            k += 1
            while k < len(block) and block[k].lstrip().startswith("+"):
                card.append(block[k])
                k += 1
            cards.append(card)
        else:
            rest.append(block[k])
            k += 1
    return cards, rest


def _local_names(rest: list[str]) -> frozenset[str]:
    """Names a subcircuit defines for its instances: header ``name=value`` and ``.param`` names."""
    text = _EXPR_RE.sub(" ", "\n".join(rest))
    return frozenset(m.lower() for m in _ASSIGN_RE.findall(text))


_RSH_RE = re.compile(r"\brsh\s*=\s*\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}", re.I)


def _card_scale(card: str, local: frozenset[str]) -> tuple[bool, str | None]:
    """(may this card leave its subcircuit, the local name its ``rsh`` takes or None): it may when
    no expression uses an instance name, except ``rsh = {X}`` with X local, and RGEOMOD is 0."""
    if re.search(r"\brgeomod\s*=\s*(?!0\b)", card, re.I):
        return False, None  # rsh then enters the geometry-based S/D resistance too
    rsh = _RSH_RE.search(card)
    scale = rsh.group(1).lower() if rsh and rsh.group(1).lower() in local else None
    text = card[:rsh.start()] + card[rsh.end():] if scale else card
    for braced, quoted in _EXPR_RE.findall(text):
        if {m.lower() for m in _IDENT_RE.findall(braced or quoted)} & local:
            return False, None
    return True, scale


def _hoisted_block(block: list[str]) -> list[str] | None:
    """``block`` (one ``.subckt`` ... ``.ends``) with its model cards moved in front of it, or None
    when that could change a value (see :func:`hoist_device_models`)."""
    cards, rest = _cards(block)
    if not cards:
        return None
    name = block[0].split()[1]
    local = _local_names(rest)
    checked = [_card_scale("\n".join(card), local) for card in cards]
    scales = {scale for _, scale in checked}
    if not all(ok for ok, _ in checked) or len(scales) != 1:
        return None  # a card uses the instance, or the bins disagree on rsh
    scale = scales.pop()
    bases = {card[0].split()[1].split(".", 1)[0].lower() for card in cards}
    out = []
    for card in cards:
        head = card[0].split(None, 2)
        text = "\n".join([f"{head[0]} {name}__{head[1]} {head[2] if len(head) > 2 else ''}".rstrip()] + card[1:])
        out.append(_RSH_RE.sub("rsh = 1", text) if scale else text)
    body = []
    for line in rest:
        if line.lstrip()[:1].lower() == "m":  # Mname d g s b MODEL ...: the sixth token
            match = re.match(r"(\s*\S+(?:\s+\S+){4}\s+)(\S+)(.*)$", line)
            if not match or match.group(2).lower() not in bases:
                return None  # a transistor whose model is not one of the moved cards
            line = f"{match.group(1)}{name}__{match.group(2)}{match.group(3)}"
            if scale:
                line, n = re.subn(r"\b(nrd|nrs)\s*=\s*\{\s*\1\s*\}", lambda m: f"{m.group(1)} = {{{m.group(1)}*{scale}}}",
                                  line, flags=re.I)
                if n != 2:
                    return None  # the factor needs nrd = {nrd} and nrs = {nrs} on every transistor
        body.append(line)
    return out + body


def hoist_device_models(text: str) -> tuple[str, int]:
    """Move the ``.model`` cards of device subcircuits in front of them, so that ngspice keeps one
    copy of each instead of one per instance; returns (text, blocks changed).

    SKY130's FET wrappers define their binned models inside the ``.subckt``, and ngspice copies
    every model of a subcircuit into every instance (a whole-engine deck: ~140,000 expanded lines,
    ~20 s of "subckt and param expansion").  A card is moved only when it uses nothing of the
    instance except ``rsh = {X}`` with X local (SKY130: ``swx_nrds``, from ``nf`` and ``w``); then
    ``rsh`` becomes 1 and each transistor's ``nrd = {nrd}`` / ``nrs = {nrs}`` becomes
    ``{nrd*X}`` / ``{nrs*X}``: BSIM4 uses RSH only as RSH x NRD and RSH x NRS when RGEOMOD = 0.
    A block stays as it is when any card uses another instance name (braced or quoted), sets
    another RGEOMOD, or its bins disagree on ``rsh``, or when a transistor does not name one of the
    moved models or lacks ``nrd = {nrd}`` / ``nrs = {nrs}`` (with a local X).  A ``rsh`` from a
    global parameter is left as it is.  The moved cards are renamed
    ``<subckt>__<model>`` (bins keep their ``.N``).  The same resistances, but rounded once instead
    of twice where ngspice writes the parameter values: results move at the 1e-9 level, not
    bit for bit (tests/test_model_library.py bounds it)."""
    lines = text.split("\n")
    out, i, changed = [], 0, 0
    while i < len(lines):
        if not lines[i].lstrip().lower().startswith(".subckt"):
            out.append(lines[i])
            i += 1
            continue
        j = i
        while not lines[j].lstrip().lower().startswith(".ends"):
            j += 1
        block = lines[i:j + 1]
        hoisted = _hoisted_block(block)
        changed += hoisted is not None
        out += block if hoisted is None else hoisted
        i = j + 1
    return "\n".join(out), changed


def write_atomic(path: Path, text: str) -> None:
    """Write a derived model or cell file: a temporary file in the same directory, then a rename,
    so a concurrent reader sees the whole file or none (mode 0644). The directory must exist."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".spice")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


@functools.lru_cache(maxsize=16)
def _defined_names(library: Path, corner: str) -> frozenset[str]:
    return frozenset().union(*(st.defines for st in flatten_section(library, corner)))


@functools.lru_cache(maxsize=16)
def _binned_devices(library: Path, corner: str) -> frozenset[str]:
    """Subcircuits of the section that hold binned model cards (the transistors)."""
    return frozenset(next(iter(st.defines)) for st in flatten_section(library, corner)
                     if st.kind == "subckt" and any(_BIN_RE.match(line.lstrip()) for line in st.body))


@functools.lru_cache(maxsize=16)
def _section_digest(library: Path, corner: str) -> str:
    digest = hashlib.sha256()
    for st in flatten_section(library, corner):
        digest.update(st.text.encode())
        digest.update(b"\0")
    return digest.hexdigest()
