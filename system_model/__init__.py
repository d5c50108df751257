"""BNN networks, functional engine and CPU + BDPE platform model (see issue 6)."""
__all__: list[str] = []
