"""Network modules. This package is the only place in dknet that imports spconv."""

from __future__ import annotations
