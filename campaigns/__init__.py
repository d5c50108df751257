"""The built-in campaigns (TOML), shipped as package data.

Place in the pipeline: the input of characterize (``bdpe run`` characterizes ``default``; the tests
use ``smoke``, a minute on two cores).

Offers: ``builtin(name)`` (the TOML text of a built-in campaign, wherever the package is installed)
and ``available()`` (their names).
"""
from importlib import resources

__all__ = ["builtin", "available"]


def available() -> list[str]:
    return sorted(p.name[:-5] for p in resources.files(__name__).iterdir() if p.name.endswith(".toml"))


def builtin(name: str) -> str:
    """The TOML text of the built-in campaign ``name`` (e.g. ``"default"``)."""
    if name not in available():
        raise KeyError(f"{name!r} is not a built-in campaign ({', '.join(available())})")
    return resources.files(__name__).joinpath(f"{name}.toml").read_text()
