"""Dataset preparation and loading: preprocessing of ScanNet downloads into per-scene arrays.

Submodules are imported on use (``from dknet.data.preprocess import preprocess_dataset``) so
that importing :mod:`dknet.data` stays cheap.
"""

from __future__ import annotations

__all__: list[str] = []
