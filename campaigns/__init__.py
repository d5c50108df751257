"""The built-in campaigns (TOML), shipped as package data: ``default.toml`` (what ``bdpe run``
characterizes) and ``smoke.toml`` (a minute on two cores; the tests use it).

``builtin(name)`` returns the text of one of them, wherever the package is installed."""
from importlib import resources

__all__ = ["builtin", "available"]


def available() -> list[str]:
    return sorted(p.name[:-5] for p in resources.files(__name__).iterdir() if p.name.endswith(".toml"))


def builtin(name: str) -> str:
    """The TOML text of the built-in campaign ``name`` (e.g. ``"default"``)."""
    if name not in available():
        raise KeyError(f"{name!r} is not a built-in campaign ({', '.join(available())})")
    return resources.files(__name__).joinpath(f"{name}.toml").read_text()
