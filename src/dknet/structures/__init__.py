"""Typed data structures shared by every stage (leaf package)."""

from __future__ import annotations

from dknet.structures.point_cloud import PointCloud

__all__ = ["PointCloud"]
