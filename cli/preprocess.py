"""`dknet preprocess`: turn a ScanNet download into dknet's per-scene arrays and ground truth."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from . import _console
from ._options import OverwriteOpt, WorkersOpt

if TYPE_CHECKING:
    from dknet.data.preprocess import PreprocessSummary, SceneResult


class DatasetFormat(str, Enum):
    """Input layouts `dknet preprocess` reads."""

    scannet = "scannet"
    pointcept = "pointcept"


def _render(summary: PreprocessSummary) -> None:
    table = Table(title=f"dknet preprocess ({summary.format})", title_justify="left")
    table.add_column("status")
    table.add_column("scenes", justify="right")
    table.add_column("points", justify="right")
    for status, results in (
        ("done", summary.done),
        ("skipped", summary.skipped),
        ("failed", summary.failed),
    ):
        points = sum(r.num_points for r in results)
        table.add_row(status, str(len(results)), f"{points:,}" if status != "failed" else "-")
    table.add_row("total", str(len(summary.results)), f"{summary.num_points:,}", style="bold")
    _console.out.print(table)
    _console.out.print(f"{summary.seconds:.1f} s, output: {escape(str(summary.out))}")
    for result in summary.failed:
        _console.out.print(
            f"[red]failed[/] {escape(result.scene_id)}: {escape(result.reason)}", highlight=False
        )


def preprocess(
    dataset_format: Annotated[
        DatasetFormat,
        typer.Argument(
            metavar="FORMAT",
            help="scannet: raw ScanNet v1/v2 download; pointcept: Pointcept's npy folders.",
            case_sensitive=False,
        ),
    ],
    root: Annotated[
        Path,
        typer.Argument(metavar="ROOT", help="Dataset root (holding scans/ or train/ val/ test/)."),
    ],
    output_dir: Annotated[
        Path, typer.Argument(metavar="OUT", help="Output folder (scenes/ and ground_truth/).")
    ],
    split_file: Annotated[
        Path | None,
        typer.Option(
            "--split-file",
            help="Only the scenes listed here (one id per line, e.g. scannetv2_val.txt).",
        ),
    ] = None,
    label_table: Annotated[
        Path | None,
        typer.Option(
            "--label-table",
            help="ScanNet label tsv (default: scannetv2-labels.combined.tsv found in ROOT).",
        ),
    ] = None,
    workers: WorkersOpt = 0,
    overwrite: OverwriteOpt = False,
) -> None:
    """Preprocess a ScanNet dataset: centred coords, colours, labels, superpoints, ground truth."""
    from dknet.data.preprocess import preprocess_dataset

    with _console.make_progress() as bar:
        task = bar.add_task("preprocess", total=None)

        def on_progress(completed: int, total: int, result: SceneResult | None) -> None:
            description = "preprocess" if result is None else f"preprocess {result.scene_id}"
            bar.update(task, completed=completed, total=total, description=description)

        summary = preprocess_dataset(
            dataset_format.value,
            root,
            output_dir,
            split_file=split_file,
            label_table=label_table,
            workers=workers,
            overwrite=overwrite,
            progress=on_progress,
        )
    _render(summary)
    if not summary.ok:
        raise typer.Exit(1)
