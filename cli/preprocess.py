"""`dknet preprocess` (being written in this session)."""

from __future__ import annotations


def preprocess() -> None:
    """(in progress)"""
    raise SystemExit("not implemented yet")
