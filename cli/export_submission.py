"""`dknet export-submission`: check (and zip) a ScanNet benchmark submission folder."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from . import _console
from ._options import CheckpointOpt, DeviceOpt, OverwriteOpt, resolve_checkpoint

if TYPE_CHECKING:
    from dknet.io.submission import SubmissionReport

__all__ = ["export_submission", "render_report"]


def render_report(report: SubmissionReport) -> None:
    """Print warnings (stderr), then one ``file:line: problem`` line per problem and a summary.

    Problems and the summary go to stdout.
    """
    for warning in report.warnings:
        _console.err.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)
    for problem in report.problems:
        where = problem.file if problem.line is None else f"{problem.file}:{problem.line}"
        _console.out.print(f"[red]{escape(where)}[/]: {escape(problem.message)}", highlight=False)
    status = (
        "[green]ok[/]" if report.ok else f"[bold red]rejected ({len(report.problems)} problems)[/]"
    )
    _console.out.print(
        f"{escape(str(report.folder))}: {len(report.scenes)} scenes, {report.num_instances} "
        f"instances: {status}",
        highlight=False,
    )


def export_submission(
    check: Annotated[
        Path | None,
        typer.Option(
            "--check",
            help="Submission folder to check (<scene>.txt + predicted_masks/ at its root).",
        ),
    ] = None,
    checkpoint: CheckpointOpt = None,
    split: Annotated[
        str | None,
        typer.Option(
            "--split",
            help="With --checkpoint: predict this split of --data (test for an upload).",
        ),
    ] = None,
    split_file: Annotated[
        Path | None,
        typer.Option("--split-file", help="Split list the submission is for (one scene per line)."),
    ] = None,
    ground_truth: Annotated[
        Path | None,
        typer.Option("--ground-truth", help="Ground-truth txt folder: vertex count per scene."),
    ] = None,
    data: Annotated[
        Path | None,
        typer.Option(
            "--data",
            help="`dknet preprocess` output: the scenes to predict (with --checkpoint), or "
            "the vertex counts to check against (with --check).",
        ),
    ] = None,
    zip_out: Annotated[
        Path | None,
        typer.Option("--zip", help="After a passing check, write the upload archive here."),
    ] = None,
    keep: Annotated[
        Path | None,
        typer.Option("--keep", help="With --checkpoint: also keep the submission folder here."),
    ] = None,
    device: DeviceOpt = "auto",
    no_superpoints: Annotated[
        bool, typer.Option("--no-superpoints", help="Skip superpoint refinement.")
    ] = False,
    overwrite: OverwriteOpt = False,
) -> None:
    """Check a submission folder and zip it, or predict a split into a checked upload zip.

    Either --check DIR [--zip OUT.zip], or --checkpoint C --data DIR --split test --zip OUT.zip.
    """
    from dknet.errors import ConfigError
    from dknet.io import submission

    if checkpoint is not None or split is not None:
        if check is not None or ground_truth is not None:
            raise typer.BadParameter(
                "--checkpoint/--split predict a submission; --check checks an existing one: "
                "use one mode"
            )
        if data is None or split is None:
            raise typer.BadParameter(
                "predicting a submission needs --data DIR and --split (e.g. test)"
            )
        if zip_out is None and keep is None:
            raise typer.BadParameter("pass --zip OUT.zip (and/or --keep DIR) for the submission")
        _predict_submission(
            data=data,
            checkpoint=resolve_checkpoint(checkpoint),
            split=split,
            split_file=split_file,
            zip_out=zip_out,
            keep=keep,
            device=device,
            use_superpoints=not no_superpoints,
            overwrite=overwrite,
        )
        return
    if check is None:
        raise typer.BadParameter(
            "pass --check DIR to check a submission, or --checkpoint C --data DIR --split test "
            "--zip OUT.zip to predict one"
        )
    if keep is not None:
        raise typer.BadParameter("--keep needs --checkpoint")

    if ground_truth is not None and data is not None:
        raise ConfigError("--ground-truth and --data both give vertex counts; pass only one")
    if zip_out is not None and zip_out.exists() and not overwrite:
        raise ConfigError(
            f"{zip_out}: archive already exists", hint="pass --overwrite to replace it"
        )
    num_vertices = None
    if ground_truth is not None:
        num_vertices = submission.ground_truth_vertex_counts(ground_truth)
    elif data is not None:
        num_vertices = submission.preprocessed_vertex_counts(data)
    report = submission.check_submission(check, split_file=split_file, num_vertices=num_vertices)
    render_report(report)
    if not report.ok:
        raise typer.Exit(1)
    if zip_out is not None:
        path = submission.zip_submission(check, zip_out, overwrite=overwrite)
        _console.out.print(f"wrote {escape(str(path))}", highlight=False)


def _predict_submission(
    *,
    data: Path,
    checkpoint: Path,
    split: str,
    split_file: Path | None,
    zip_out: Path | None,
    keep: Path | None,
    device: str,
    use_superpoints: bool,
    overwrite: bool,
) -> None:
    from dknet.engine.evaluate import export_split

    with _console.make_progress() as bar:
        task = bar.add_task(f"predicting {split}", total=None)
        result = export_split(
            data,
            checkpoint,
            zip_out,
            split=split,
            split_file=split_file,
            device=device,
            use_superpoints=use_superpoints,
            keep_dir=keep,
            overwrite=overwrite,
            progress=lambda done, total, _scene: bar.update(task, completed=done, total=total),
        )
    render_report(result.report)
    if not result.report.ok:
        raise typer.Exit(1)
    for path in (result.folder, result.zip_path):
        if path is not None:
            _console.out.print(f"wrote {escape(str(path))}", highlight=False)
