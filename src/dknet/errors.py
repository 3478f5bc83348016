"""Domain errors raised by the dknet library.

Library code raises these; only the command-line interface turns them into a one-line message
and an exit code. Every message says what was expected, what was found and, where there is one,
the next thing to try (``hint``).
"""

from __future__ import annotations

__all__ = [
    "DKNetError",
    "ExtensionNotAvailableError",
    "InvalidPointCloudError",
    "ConfigError",
    "CheckpointError",
    "DatasetLayoutError",
    "InvalidPredictionError",
    "SubmissionError",
]


class DKNetError(Exception):
    """Base class of every error dknet raises on purpose.

    Args:
        message: one line naming the file or object and the problem.
        hint: optional next step for the user (a command to run, a flag to set).
    """

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class ExtensionNotAvailableError(DKNetError):
    """The compiled extension ``dknet._ext`` was requested but cannot be used."""


class InvalidPointCloudError(DKNetError):
    """A point-cloud file or array is malformed (missing, unreadable, wrong fields, non-finite)."""


class ConfigError(DKNetError):
    """A configuration value or command-line flag combination is invalid."""


class CheckpointError(DKNetError):
    """A checkpoint is missing, corrupt, or from an incompatible dknet/spconv version."""


class DatasetLayoutError(DKNetError):
    """A dataset folder does not have the expected layout or its files disagree."""


class InvalidPredictionError(DKNetError):
    """A prediction file or folder (benchmark instance format) is malformed."""


class SubmissionError(DKNetError):
    """A benchmark submission folder fails validation or cannot be written."""
