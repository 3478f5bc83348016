"""Small checks shared by the dataset readers."""

from __future__ import annotations

import os
from pathlib import Path

from dknet.errors import DatasetLayoutError

__all__ = ["require_folder"]


def require_folder(path: str | os.PathLike[str], what: str = "dataset root") -> Path:
    """Return ``path`` as a Path, or raise DatasetLayoutError if it is missing or not a folder."""
    folder = Path(path)
    if not folder.exists():
        raise DatasetLayoutError(f"{folder}: {what} not found")
    if not folder.is_dir():
        raise DatasetLayoutError(f"{folder}: {what} is not a folder")
    return folder
