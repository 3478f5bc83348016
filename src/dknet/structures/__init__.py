"""Typed data structures shared by every stage (leaf package, numpy only)."""

from __future__ import annotations

from dknet.structures.instances import Instances
from dknet.structures.point_cloud import PointCloud

__all__ = ["Instances", "PointCloud"]
