"""The `cappuccino` command line. Each subcommand lives in its own module and imports its
heavy dependencies (torch, optuna, broker SDKs) only inside its handler."""

from __future__ import annotations

import argparse
from typing import TypeAlias

# What `add_subparsers()` returns: argparse gives it no public name, typeshed a generic one.
Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
