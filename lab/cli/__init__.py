"""The `lab` command: one module per group of commands, each a thin shell over the library."""

from .main import cli, main

__all__ = ["cli", "main"]
