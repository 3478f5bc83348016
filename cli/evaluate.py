"""`dknet evaluate`: ScanNet benchmark instance metrics of a prediction folder."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from . import _console
from ._options import (
    CheckpointOpt,
    DeviceOpt,
    JsonOutOpt,
    OverwriteOpt,
    WorkersOpt,
    resolve_checkpoint,
)

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
        Path | None,
        typer.Option(
            "--predictions",
            help="Prediction folder in the benchmark format (<scene>.txt + mask files).",
        ),
    ] = None,
    ground_truth: Annotated[
        Path | None,
        typer.Option(
            "--ground-truth",
            help="Folder of ground-truth <scene>.txt files (nyu40_id*1000+instance per vertex).",
        ),
    ] = None,
    split: Annotated[
        str | None,
        typer.Option(
            "--split",
            help="Run --checkpoint over this split of --data (train, val) and score it.",
        ),
    ] = None,
    data: Annotated[
        Path | None,
        typer.Option("--data", help="`dknet preprocess` output holding the split's scenes."),
    ] = None,
    checkpoint: CheckpointOpt = None,
    split_file: Annotated[
        Path | None,
        typer.Option(
            "--split-file",
            help="Split list (default: scannetv2_<split>.txt beside --data or its source).",
        ),
    ] = None,
    device: DeviceOpt = "auto",
    no_superpoints: Annotated[
        bool, typer.Option("--no-superpoints", help="Skip superpoint refinement.")
    ] = False,
    keep_predictions: Annotated[
        Path | None,
        typer.Option(
            "--keep-predictions",
            help="With --split: also write the predictions here in the benchmark's format.",
        ),
    ] = None,
    overwrite: OverwriteOpt = False,
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
    """Score predictions with the ScanNet benchmark's instance protocol (AP, AP50, AP25).

    Either a prediction folder against ground truth (--predictions, --ground-truth), or a model
    run over a preprocessed split (--split, --data, --checkpoint).
    """
    from dknet.errors import ConfigError

    if split is not None or data is not None:
        if predictions is not None or ground_truth is not None or semantic_predictions:
            raise typer.BadParameter(
                "--split/--data run a model; --predictions/--ground-truth score files: use one mode"
            )
        if split is None or data is None:
            raise typer.BadParameter("--split and --data go together")
        if split not in ("train", "val"):
            raise ConfigError(
                f"--split {split}: only train and val have ground truth",
                hint="for the test split use `dknet export-submission --split test`",
            )
        result = _evaluate_split(
            split=split,
            data=data,
            checkpoint=resolve_checkpoint(checkpoint),
            split_file=split_file,
            device=device,
            use_superpoints=not no_superpoints,
            keep_predictions=keep_predictions,
            overwrite=overwrite,
        )
    else:
        if predictions is None or ground_truth is None:
            raise typer.BadParameter(
                "pass --predictions DIR --ground-truth DIR, or --split val --data DIR "
                "[--checkpoint C]"
            )
        for flag, value in (
            ("--checkpoint", checkpoint),
            ("--split-file", split_file),
            ("--keep-predictions", keep_predictions),
        ):
            if value is not None:
                raise typer.BadParameter(f"{flag} needs --split and --data")
        result = _evaluate_folder(
            predictions, ground_truth, workers, require_all, semantic_predictions
        )
    render_result(result)
    if json_out is not None:
        _console.out.print(f"wrote {result.write_json(json_out)}", highlight=False)
    if csv_out is not None:
        _console.out.print(f"wrote {result.write_csv(csv_out)}", highlight=False)


def _evaluate_split(
    *,
    split: str,
    data: Path,
    checkpoint: Path,
    split_file: Path | None,
    device: str,
    use_superpoints: bool,
    keep_predictions: Path | None,
    overwrite: bool,
) -> EvalResult:
    from dknet.engine.evaluate import evaluate_split

    with _console.make_progress() as bar:
        task = bar.add_task(f"predicting {split}", total=None)
        result = evaluate_split(
            data,
            checkpoint,
            split=split,
            split_file=split_file,
            device=device,
            use_superpoints=use_superpoints,
            submission_dir=keep_predictions,
            overwrite=overwrite,
            progress=lambda done, total, _scene: bar.update(task, completed=done, total=total),
        )
    if keep_predictions is not None:
        _console.err.print(f"kept the predictions in {keep_predictions}", highlight=False)
    return result


def _evaluate_folder(
    predictions: Path,
    ground_truth: Path,
    workers: int,
    require_all: bool,
    semantic_predictions: Path | None,
) -> EvalResult:
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
    return result
