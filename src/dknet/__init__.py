"""dknet: 3D instance segmentation of indoor scans with DKNet (ECCV 2022).

Importing ``dknet`` is cheap: it pulls in neither torch, spconv, numba nor the compiled
extension. Submodules import what they need on first use.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
