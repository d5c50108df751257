"""``bdpe export accelergy``: the BDPE as one Accelergy component, an energy reference table (ERT)
and an area reference table (ART) per operating point, in Accelergy's ERT/ART output format
(version 0.3: what ``accelergy`` writes as ``ERT.yaml`` / ``ART.yaml`` and Timeloop reads):

    ERT:                                   ART:
      version: 0.3                           version: 0.3
      tables:                                tables:
      - name: bdpe                           - name: bdpe
        actions:                               area: <um^2>
        - name: <action>
          arguments: null
          energy: <pJ>

Units are Accelergy's: energy in pJ per action, area in um^2. Actions: ``rram_path_op`` (one BDPE
operation on the RRAM path: a CHK hit), ``register_path_op`` (the register path: DPM),
``write_word`` (programming one 64-bit word; only when the tables hold ``program_word`` at that
point, otherwise omitted with a comment) and ``idle`` (leakage over one operation: 0 with a
comment while the tables hold no leakage). Every value names, in a comment on its line, the table,
metric and operating point it came from. :func:`ert_schema` and :func:`art_schema` write the format
down as JSON Schema (the tests validate every file against them).
"""
from __future__ import annotations

from characterize.files import safe_text

from .export_tables import BDPEExport, generator

__all__ = ["render_accelergy", "ert_schema", "art_schema", "ENERGY_SCALE", "COMPONENT", "FORMAT_VERSION"]

ENERGY_SCALE = 1e12  # J -> pJ
COMPONENT = "bdpe"
FORMAT_VERSION = 0.3


def ert_schema() -> dict:
    """JSON Schema of an ERT file as written here (Accelergy's ERT output format)."""
    action = {"type": "object", "required": ["name", "arguments", "energy"], "additionalProperties": False,
              "properties": {"name": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"},
                             "arguments": {"type": ["null", "object"]},
                             "energy": {"type": "number", "minimum": 0}}}
    table = {"type": "object", "required": ["name", "actions"], "additionalProperties": False,
             "properties": {"name": {"type": "string", "minLength": 1},
                            "actions": {"type": "array", "minItems": 1, "items": action}}}
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object", "required": ["ERT"],
            "additionalProperties": False,
            "properties": {"ERT": {"type": "object", "required": ["version", "tables"], "additionalProperties": False,
                                   "properties": {"version": {"enum": [0.3, "0.3"]},
                                                  "tables": {"type": "array", "minItems": 1, "items": table}}}}}


def art_schema() -> dict:
    """JSON Schema of an ART file as written here (Accelergy's ART output format)."""
    table = {"type": "object", "required": ["name", "area"], "additionalProperties": False,
             "properties": {"name": {"type": "string", "minLength": 1}, "area": {"type": "number", "minimum": 0}}}
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object", "required": ["ART"],
            "additionalProperties": False,
            "properties": {"ART": {"type": "object", "required": ["version", "tables"], "additionalProperties": False,
                                   "properties": {"version": {"enum": [0.3, "0.3"]},
                                                  "tables": {"type": "array", "minItems": 1, "items": table}}}}}


def _num(value: float) -> str:
    return repr(float(value))


def _comment(text: str) -> str:
    """One line of text that stays inside a YAML comment."""
    return safe_text(text)


def _header(x: BDPEExport, what: str, units: str) -> list[str]:
    lines = [f"Accelergy {what} of the BDPE (RRAM binary dot-product engine) at {x.point.label}.",
             f"Written by bdpe export accelergy ({generator()}) from the tables at this exact grid point.",
             *x.provenance, f"Units: {units}. Every value names its source in a comment on its line."]
    return [f"# {_comment(line)}" for line in lines]


def _action(name: str, energy_pJ: float, source: str) -> list[str]:
    return [f"    - name: {name}", "      arguments: null", f"      energy: {_num(energy_pJ)}  # {_comment(source)}"]


def _ert(x: BDPEExport) -> str:
    v = x.values
    lines = _header(x, "energy reference table (ERT)", "energy in pJ per action")
    body = _action("rram_path_op", v["rram_energy"].value * ENERGY_SCALE, v["rram_energy"].source)
    body += _action("register_path_op", v["register_energy"].value * ENERGY_SCALE, v["register_energy"].source)
    if "program_energy" in v:
        body += _action("write_word", v["program_energy"].value * ENERGY_SCALE, v["program_energy"].source +
                        " (one 64-bit word written in one pulse)")
    else:
        lines.append(f"# write_word: omitted: {_comment(x.missing['program'])}")
    if "leakage" in v:  # leakage power over one RRAM-path operation
        idle = v["leakage"].value * v["rram_latency"].value * ENERGY_SCALE
        body += _action("idle", idle, f"{v['leakage'].source} x {v['rram_latency'].source}")
    else:
        body += _action("idle", 0.0, f"{x.tables_name} @ {x.point.label}: 0 is a placeholder, not a "
                                     f"measurement: {x.missing['leakage']}")
    lines += ["ERT:", f"  version: {FORMAT_VERSION}", "  tables:", f"  - name: {COMPONENT}", "    actions:"] + body
    return "\n".join(lines) + "\n"


def _art(x: BDPEExport) -> str:
    area = x.values["area"]
    lines = _header(x, "area reference table (ART)", "area in um^2")
    lines += ["ART:", f"  version: {FORMAT_VERSION}", "  tables:", f"  - name: {COMPONENT}",
              f"    area: {_num(area.value)}  # {_comment(area.source)}"]
    return "\n".join(lines) + "\n"


def render_accelergy(x: BDPEExport) -> list[tuple[str, str]]:
    """[(file name, YAML text)]: the ERT and the ART of the operating point of ``x``."""
    stem = f"bdpe_{x.point.tag}"
    return [(f"{stem}.ERT.yaml", _ert(x)), (f"{stem}.ART.yaml", _art(x))]
