"""Typed errors of the stack. Each message says what went wrong and what to do about it."""

from __future__ import annotations


class DexndmError(Exception):
    """Base class: the CLI prints the message (no traceback) and exits with status 2."""


class LaunchFileError(DexndmError):
    """A launch file is malformed or uses a construct outside the supported subset."""

    def __init__(self, file: str, line: int | None, message: str):
        self.file = file
        self.line = line
        where = f"{file}:{line}" if line else file
        super().__init__(f"{where}: {message}")


class ExecutableNotFoundError(DexndmError):
    """A launch file names a package executable that is not installed."""


class BagError(DexndmError):
    """A bag cannot be written or read as asked."""


class JointNameError(DexndmError):
    """A joint message names joints this hand does not have, or is inconsistent."""
