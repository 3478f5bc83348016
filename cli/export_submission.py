"""`dknet export-submission`: check (and zip) a ScanNet benchmark submission folder."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from . import _console
from ._options import OverwriteOpt

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
        Path,
        typer.Option(
            "--check",
            help="Submission folder to check (<scene>.txt + predicted_masks/ at its root).",
        ),
    ],
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
            "--data", help="`dknet preprocess` output: vertex counts from scenes/<scene>/meta.json."
        ),
    ] = None,
    zip_out: Annotated[
        Path | None,
        typer.Option("--zip", help="After a passing check, write the upload archive here."),
    ] = None,
    overwrite: OverwriteOpt = False,
) -> None:
    """Check a submission folder the way the benchmark server reads it; optionally zip it."""
    from dknet.errors import ConfigError
    from dknet.io import submission

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
