"""Exceptions that CLI handlers raise to choose the exit status (design.md)."""


class UsageError(Exception):
    """Bad usage detected after parsing (exit 2)."""


class JobError(Exception):
    """The job failed in a way already phrased for the operator (exit 1)."""



def why_of(path: object, error: object) -> str:
    """The error's text without a leading `PATH: `, so a message names the path once."""
    return str(error).removeprefix(f"{path}: ")
