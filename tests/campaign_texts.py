"""Campaign texts shared by several test modules."""

# two rc-step points on the ideal technology: a real campaign in about a second, no PDK to load
TINY = """
[campaign]
name = "tiny"
technology = "ideal"
[axes]
corner = ["nom"]
[operations.rc_step]
axes = { r_ohm = [1000.0, 2000.0] }
"""


def report_cache_dir():
    """One result cache for the points of tests/data/report.toml, shared by the conftest fixture
    ``report_tables`` and the README's export examples: they are simulated once per machine and
    checkout state (entries are keyed by netlist, parameters and procedure source)."""
    import os
    import tempfile
    from pathlib import Path

    return Path(tempfile.gettempdir()) / f"bdpe-test-report-cache-{os.getuid()}"
