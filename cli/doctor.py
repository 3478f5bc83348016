"""`dknet doctor` (being written in this session)."""

from __future__ import annotations


def doctor() -> None:
    """(in progress)"""
    raise SystemExit("not implemented yet")
