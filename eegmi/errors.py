"""Errors that reach a user: one clear line naming the file and the problem."""

from __future__ import annotations

from pathlib import Path


class EegmiError(Exception):
    """A problem a user can act on (bad file, bad option, unfit model).

    Parameters
    ----------
    message
        What is wrong, in one line.
    path
        The file or directory concerned, if any; it is prefixed to the message.
    """

    def __init__(self, message: str, path: str | Path | None = None) -> None:
        self.message = message
        self.path = None if path is None else str(path)
        super().__init__(self.line())

    def line(self) -> str:
        """The one-line form shown in the CLI and the GUI."""
        return f"{self.path}: {self.message}" if self.path else self.message


class DataError(EegmiError):
    """Input data that cannot be read or does not fit (truncated, NaN, wrong channels...)."""


class CheckpointError(EegmiError):
    """A model or SAE checkpoint that cannot be loaded into the requested architecture."""


class ConfigError(EegmiError):
    """A configuration or preset with unknown keys or impossible values."""


class Cancelled(Exception):
    """Raised inside a job when its cancel token was set."""
