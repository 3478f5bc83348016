"""`dknet evaluate` (being written in this session)."""

from __future__ import annotations


def evaluate() -> None:
    """(in progress)"""
    raise SystemExit("not implemented yet")
