"""The ``dicomlens`` command line: every entry point a person types, in one package.

``main`` (the console script) and ``build_parser`` live in :mod:`dicomlens.cli.main`; each
subcommand has its own module (``analyze``, ``deidentify``, ``deploy``, ``serve``), and the
commands that work through many files share :mod:`dicomlens.cli.file_runner` and its
time-limited worker pool, :mod:`dicomlens.cli.timed_batch`.
"""

from dicomlens.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
