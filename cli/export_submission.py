"""`dknet export-submission` (being written in this session)."""

from __future__ import annotations


def export_submission() -> None:
    """(in progress)"""
    raise SystemExit("not implemented yet")
