"""The ``bdpe`` command line and report: the last stage of the pipeline
(tables -> system model -> report).

:func:`main` is the console script's entry point. It imports the command line lazily, so that a
Ctrl-C during start-up (importing numpy, argparse, ...) is one line and exit code 130 too.
"""
__version__ = "0.1.0"
__all__ = ["__version__", "main"]


def main() -> int:
    import sys

    try:
        from bdpe.cli import main as cli_main
    except KeyboardInterrupt:
        print("bdpe: interrupted", file=sys.stderr)
        return 130
    return cli_main()
