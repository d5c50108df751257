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
