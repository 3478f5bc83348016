"""Engines behind the CLI commands (each command calls one function here or in the library)."""

from __future__ import annotations
