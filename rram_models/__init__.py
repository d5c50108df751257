"""Compact RRAM models as ngspice behavioural subcircuits (ports ``te be state``).

Place in the pipeline: the first stage, **rram_models** -> circuits -> characterize -> tables ->
system_model -> report. It imports nothing of ours, so it also holds :class:`InputError`, the base
class of every bad-input error of every layer.

Offers: ``get_model(name)`` -> :class:`RRAMModel` (``.name``, ``.params``: published defaults in
SI units under the published names, ``.parameter_sets``: named sets with their sources,
``.subckt(name="rram", parameter_set=None, **overrides)``, ``.static_subckt``, the I-V in numpy),
``available()``, :class:`ParameterSet`, :class:`Variability` (device-to-device and cycle-to-cycle
spread from a seed), :class:`ModelParameterError`, :class:`InputError`, ``models_sha256()``.
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
