"""Compact RRAM models as ngspice behavioural subcircuits (see issue 3)."""
__all__: list[str] = []
