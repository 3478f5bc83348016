"""`dknet segment`: ScanNet's mesh over-segmentation (superpoints) written as a segs.json file."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from . import _console
from ._options import OverwriteOpt


class GraphChoice(str, Enum):
    """Graphs `dknet segment` can segment over."""

    auto = "auto"
    mesh = "mesh"
    knn = "knn"


def segment(
    mesh: Annotated[
        Path,
        typer.Argument(metavar="MESH.ply", help="Mesh (or point cloud) to over-segment."),
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Output segs.json (default: beside MESH, named as ScanNet names it, e.g. "
            "scene0000_00_vh_clean_2.0.010000.segs.json).",
        ),
    ] = None,
    graph: Annotated[
        GraphChoice,
        typer.Option(
            "--graph",
            help="mesh: ScanNet's segmentation over the faces; knn: a k-nearest-neighbour graph "
            "with PCA normals (point clouds); auto: mesh if the file has faces, else knn.",
            case_sensitive=False,
        ),
    ] = GraphChoice.auto,
    k_threshold: Annotated[
        float,
        typer.Option(
            "--k-threshold",
            min=0.0,
            help="Felzenszwalb k (ScanNet: 0.01); larger: bigger segments.",
        ),
    ] = 0.01,
    min_vertices: Annotated[
        int,
        typer.Option(
            "--min-vertices", min=0, help="Merge segments smaller than this (ScanNet: 20)."
        ),
    ] = 20,
    neighbors: Annotated[
        int, typer.Option("--neighbors", min=1, help="Graph degree of the knn variant.")
    ] = 8,
    overwrite: OverwriteOpt = False,
) -> None:
    """Over-segment a mesh into superpoints, as ScanNet's Segmentator does, into a segs.json."""
    from dknet.segmentation import segment_ply

    result = segment_ply(
        mesh,
        out,
        overwrite=overwrite,
        graph=graph.value,
        k_threshold=k_threshold,
        min_vertices=min_vertices,
        k_neighbors=neighbors,
    )
    _console.out.print(
        f"Wrote {escape(str(result.path))}: {result.num_segments:,} segments over "
        f"{result.num_vertices:,} vertices ({result.graph} graph, {result.seconds:.2f} s)",
        highlight=False,
    )
