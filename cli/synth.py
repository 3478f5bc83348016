"""`dknet synth` (being written in this session)."""

from __future__ import annotations


def synth() -> None:
    """(in progress)"""
    raise SystemExit("not implemented yet")
