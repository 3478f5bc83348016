"""`dknet evaluate`: ScanNet benchmark instance metrics of a prediction folder."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from . import _console
from ._options import JsonOutOpt, WorkersOpt

if TYPE_CHECKING:
    from dknet.evaluation import EvalResult

__all__ = ["evaluate", "render_result"]


def _fmt(value: float) -> str:
    # The benchmark's evaluator prints fractions with three decimals; so does dknet.
    return "[dim]nan[/]" if math.isnan(value) else f"{value:.3f}"


def render_result(result: EvalResult) -> None:
    """Print the per-class AP table (and the semantic table, if any) on stdout."""
    from rich.table import Table

    table = Table(title=f"Instance segmentation ({len(result.scenes)} scenes)")
    table.add_column("class")
    for name in ("AP", "AP50", "AP25"):
        table.add_column(name, justify="right")
    for c in result.classes:
        table.add_row(c.name, _fmt(c.ap), _fmt(c.ap50), _fmt(c.ap25))
    table.add_section()
    table.add_row(
        "[bold]average[/]",
        f"[bold]{_fmt(result.ap)}[/]",
        f"[bold]{_fmt(result.ap50)}[/]",
        f"[bold]{_fmt(result.ap25)}[/]",
    )
    _console.out.print(table)
    sem = result.semantic
    if sem is not None:
        sem_table = Table(title=f"Semantic segmentation ({sem.num_scenes} scenes)")
        sem_table.add_column("class")
        sem_table.add_column("IoU", justify="right")
        for name, iou in zip(sem.class_names, sem.iou, strict=False):
            sem_table.add_row(name, _fmt(iou))
        sem_table.add_section()
        sem_table.add_row("[bold]mIoU[/]", f"[bold]{_fmt(sem.miou)}[/]")
        sem_table.add_row("[bold]accuracy[/]", f"[bold]{_fmt(sem.accuracy)}[/]")
        _console.out.print(sem_table)


def evaluate(
    predictions: Annotated[
        Path,
        typer.Option(
            "--predictions",
            help="Prediction folder in the benchmark format (<scene>.txt + mask files).",
        ),
    ],
    ground_truth: Annotated[
        Path,
        typer.Option(
            "--ground-truth",
            help="Folder of ground-truth <scene>.txt files (nyu40_id*1000+instance per vertex).",
        ),
    ],
    json_out: JsonOutOpt = None,
    csv_out: Annotated[
        Path | None, typer.Option("--csv", help="Also write the per-class table as CSV.")
    ] = None,
    workers: WorkersOpt = 0,
    semantic_predictions: Annotated[
        Path | None,
        typer.Option(
            "--semantic-predictions",
            help=(
                "Folder of <scene>.txt files with one nyu40 id per vertex: adds accuracy and mIoU."
            ),
        ),
    ] = None,
    require_all: Annotated[
        bool,
        typer.Option(
            "--require-all",
            help="Fail if a ground-truth scene has no prediction file (default: warn).",
        ),
    ] = False,
) -> None:
    """Score a prediction folder with the ScanNet benchmark's instance protocol (AP, AP50, AP25)."""
    from dknet.errors import ConfigError
    from dknet.evaluation import evaluate_prediction_folder

    for flag, path in (
        ("--predictions", predictions),
        ("--ground-truth", ground_truth),
        ("--semantic-predictions", semantic_predictions),
    ):
        if path is not None and not path.is_dir():
            raise ConfigError(f"{flag} {path}: not a folder")
    with _console.make_progress() as bar:
        task = bar.add_task("scoring scenes", total=None)
        result = evaluate_prediction_folder(
            predictions,
            ground_truth,
            workers=workers,
            require_all=require_all,
            semantic_dir=semantic_predictions,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    render_result(result)
    if json_out is not None:
        _console.out.print(f"wrote {result.write_json(json_out)}", highlight=False)
    if csv_out is not None:
        _console.out.print(f"wrote {result.write_csv(csv_out)}", highlight=False)
