"""`dknet synth`: write synthetic rooms with exact ground truth in ScanNet v2's raw layout."""

from __future__ import annotations

import math
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from . import _console
from ._options import OverwriteOpt, WorkersOpt


class Preset(str, Enum):
    """Named option sets of the generator (``dknet.synth.options``)."""

    scan = "scan"
    clean = "clean"


def _fmt(value: float) -> str:
    if math.isnan(value):
        return "-"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.2f}" if abs(value) < 10 else f"{value:.1f}"


def _print_report(folder: Path) -> None:
    from dknet.synth import dataset_report, dataset_statistics

    stats = dataset_statistics(folder)
    if not stats:
        raise typer.BadParameter(f"{folder}: no labelled scenes to measure", param_hint="--report")
    table = Table(title=f"{len(stats)} labelled scenes in {escape(str(folder))} vs real ScanNet")
    for column in ("statistic", "median", "min - max", "real range", "inside"):
        table.add_column(column, justify="left" if column == "statistic" else "right")
    for row in dataset_report(stats):
        table.add_row(
            row.name,
            _fmt(row.median),
            f"{_fmt(row.low)} - {_fmt(row.high)}",
            f"{_fmt(row.real_low)} - {_fmt(row.real_high)}",
            "yes" if row.inside else "[red]no[/red]",
        )
    _console.out.print(table)


def synth(
    out: Annotated[
        Path | None,
        typer.Argument(
            metavar="OUT",
            help="Output folder (scans/, scans_test/, label table, split lists).",
            show_default=False,
        ),
    ] = None,
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
            help="Base vertex spacing in metres (0.03 gives ScanNet-like densities; the scan "
            "preset scales it per surface).",
        ),
    ] = 0.03,
    preset: Annotated[
        Preset,
        typer.Option(
            "--preset",
            help="scan: rooms that look like reconstructed scans (noise, tilt, holes, clutter, "
            "lighting); clean: the original noise-free rooms with exact geometry.",
        ),
    ] = Preset.scan,
    report: Annotated[
        Path | None,
        typer.Option(
            "--report",
            metavar="DIR",
            help="Print the statistics of REAL_SCANS.md for the labelled scenes in DIR beside "
            "the ranges measured on real ScanNet (after writing OUT, when given).",
        ),
    ] = None,
    workers: WorkersOpt = 0,
    overwrite: OverwriteOpt = False,
) -> None:
    """Write synthetic furnished rooms (meshes, over-segments, instance annotations, label table
    and train/val/test lists) in the layout of a ScanNet v2 download."""
    if out is None and report is None:
        raise typer.BadParameter("give an output folder OUT, --report DIR, or both")
    if out is not None:
        from dknet.synth import generate_dataset, preset_options

        summary = generate_dataset(
            out,
            num_scenes=scenes,
            seed=seed,
            vertex_spacing=vertex_spacing,
            workers=workers,
            overwrite=overwrite,
            progress=_console.track,
            options=preset_options(preset.value),
        )
        split_text = " / ".join(
            f"{len(summary.split_ids(split))} {split}" for split in ("train", "val", "test")
        )
        _console.out.print(
            f"Wrote {summary.num_scenes} scenes ({split_text}), {summary.num_vertices:,} "
            f"vertices ({summary.min_vertices:,}-{summary.max_vertices:,} per scene) to "
            f"{escape(str(summary.out))} in {summary.seconds:.1f} s "
            f"({60 * summary.num_scenes / max(summary.seconds, 1e-9):.0f} scenes/min)",
            highlight=False,
        )
    if report is not None:
        _print_report(report)
