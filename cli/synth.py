"""`dknet synth`: write synthetic rooms with exact ground truth in ScanNet v2's raw layout."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from . import _console
from ._options import OverwriteOpt, WorkersOpt


def synth(
    out: Annotated[
        Path,
        typer.Argument(
            metavar="OUT", help="Output folder (scans/, scans_test/, label table, split lists)."
        ),
    ],
    scenes: Annotated[
        int, typer.Option("--scenes", "-n", min=1, max=1000, help="Number of rooms to write.")
    ] = 20,
    seed: Annotated[
        int, typer.Option("--seed", min=0, help="Dataset seed (same seed: identical files).")
    ] = 0,
    vertex_spacing: Annotated[
        float,
        typer.Option(
            "--vertex-spacing",
            min=0.01,
            max=0.2,
            help="Surface grid spacing in metres (0.03 gives ScanNet-like densities).",
        ),
    ] = 0.03,
    workers: WorkersOpt = 0,
    overwrite: OverwriteOpt = False,
) -> None:
    """Write synthetic furnished rooms (meshes, over-segments, instance annotations, label table
    and train/val/test lists) in the layout of a ScanNet v2 download."""
    from dknet.synth import generate_dataset

    summary = generate_dataset(
        out,
        num_scenes=scenes,
        seed=seed,
        vertex_spacing=vertex_spacing,
        workers=workers,
        overwrite=overwrite,
        progress=_console.track,
    )
    split_text = " / ".join(
        f"{len(summary.split_ids(split))} {split}" for split in ("train", "val", "test")
    )
    _console.out.print(
        f"Wrote {summary.num_scenes} scenes ({split_text}), {summary.num_vertices:,} vertices "
        f"({summary.min_vertices:,}-{summary.max_vertices:,} per scene) to "
        f"{escape(str(summary.out))} in {summary.seconds:.1f} s "
        f"({60 * summary.num_scenes / max(summary.seconds, 1e-9):.0f} scenes/min)",
        highlight=False,
    )
