"""Scene split lists (``scannetv2_{train,val,test}.txt``): one scene id per line.

The official ScanNet v2 lists hold 1201 train, 312 val and 100 test scenes; users pass their own
copies. Blank lines and ``#`` comments are ignored; a scene listed twice is an error, because a
duplicate usually means two lists were concatenated by mistake.
"""

from __future__ import annotations

import os
from pathlib import Path

from dknet.errors import DatasetLayoutError

__all__ = ["SPLITS", "find_split_file", "find_split_files", "read_split_file", "split_file_name"]

#: The split names of the ScanNet v2 benchmark, in their usual order.
SPLITS: tuple[str, ...] = ("train", "val", "test")


def split_file_name(split: str) -> str:
    """The official file name of a split list, e.g. ``scannetv2_val.txt``.

    Raises:
        DatasetLayoutError: ``split`` is not one of ``train``, ``val``, ``test``.
    """
    if split not in SPLITS:
        raise DatasetLayoutError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    return f"scannetv2_{split}.txt"


def read_split_file(path: str | os.PathLike[str]) -> list[str]:
    """Read a split list.

    Everything after a ``#`` on a line is a comment; surrounding whitespace is stripped and blank
    lines are skipped. Each remaining line must be exactly one scene id (no inner whitespace).

    Args:
        path: the list file.

    Returns:
        The scene ids in file order.

    Raises:
        DatasetLayoutError: the file is missing or unreadable, a line holds more than one token,
            or a scene id is listed twice (names the file and both line numbers).
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DatasetLayoutError(f"{p}: split file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise DatasetLayoutError(f"{p}: cannot read split file ({reason})") from None
    scenes: list[str] = []
    first_line: dict[str, int] = {}
    for line_no, line in enumerate(text.splitlines(), start=1):
        entry = line.split("#", 1)[0].strip()
        if not entry:
            continue
        if len(entry.split()) != 1:
            raise DatasetLayoutError(
                f"{p}: line {line_no}: expected one scene id per line, found {entry[:60]!r}"
            )
        if entry in first_line:
            raise DatasetLayoutError(
                f"{p}: scene {entry!r} is listed twice (lines {first_line[entry]} and {line_no})"
            )
        first_line[entry] = line_no
        scenes.append(entry)
    return scenes


def find_split_file(root: str | os.PathLike[str], split: str) -> Path | None:
    """Look for ``scannetv2_<split>.txt`` in ``root`` and then in its parent.

    Returns:
        The first existing file, or None when there is none.
    """
    name = split_file_name(split)
    base = Path(root)
    for folder in (base, base.parent):
        candidate = folder / name
        if candidate.is_file():
            return candidate
    return None


def find_split_files(root: str | os.PathLike[str]) -> dict[str, Path]:
    """All official split lists found by :func:`find_split_file`, keyed by split name."""
    found: dict[str, Path] = {}
    for split in SPLITS:
        path = find_split_file(root, split)
        if path is not None:
            found[split] = path
    return found
