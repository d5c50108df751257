"""The ``bdpe`` command line: one entry point over circuits, characterize and system_model."""
__version__ = "0.1.0"
__all__ = ["__version__"]
