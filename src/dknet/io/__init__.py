"""Readers and writers for the file formats dknet speaks (numpy only; never imports torch)."""

from __future__ import annotations
