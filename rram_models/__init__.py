"""Compact RRAM models as ngspice behavioural subcircuits (ports ``te be state``).

``get_model(name)`` returns an :class:`RRAMModel` with ``.name``, ``.params`` (published defaults,
SI units, the published parameter names), ``.parameter_sets`` (named sets, each with its source)
and ``.subckt(name="rram", parameter_set=None, **overrides)``. ``available()`` lists the names.
"""
from .base import InputError, ModelParameterError, ParameterSet, RRAMModel, Variability
from .stanford_pku import STANFORD_PKU
from .vteam import VTEAM

__all__ = ["get_model", "available", "RRAMModel", "ParameterSet", "Variability", "ModelParameterError", "InputError",
           "models_sha256"]

_MODELS = {m.name: m for m in (STANFORD_PKU, VTEAM)}


def available() -> list[str]:
    return sorted(_MODELS)


def get_model(name: str) -> RRAMModel:
    try:
        return _MODELS[name]
    except KeyError:
        raise ModelParameterError("model", name, f"is not an RRAM model ({', '.join(available())})") from None


def models_sha256() -> str:
    """Hash of the model source files (goes into cache keys and table provenance)."""
    import hashlib
    from pathlib import Path

    h = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()
