"""`dknet train`: train DKNet on preprocessed scenes (one process, or several under torchrun)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from . import _console
from ._options import OverwriteOpt

if TYPE_CHECKING:
    from dknet.engine.train import TrainProgress

#: Exit code of a run stopped by Ctrl-C or SIGTERM (after its checkpoint was written).
EXIT_INTERRUPTED = 130


def train(
    config: Annotated[Path, typer.Argument(metavar="CONFIG", help="YAML config (configs/*.yaml).")],
    data: Annotated[
        Path,
        typer.Option(
            "--data", help="`dknet preprocess` output with the split lists.", show_default=False
        ),
    ],
    output_dir: Annotated[
        Path,
        typer.Option(
            "--output-dir",
            "-o",
            help="Run folder: config, metrics, checkpoints.",
            show_default=False,
        ),
    ],
    overrides: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="[KEY=VALUE]...",
            help="Dotted config overrides, e.g. train.lr=5e-4 model.width=16.",
            show_default=False,
        ),
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue the run in --output-dir where it stopped.")
    ] = False,
    device: Annotated[
        str, typer.Option("--device", help="auto (CUDA if available, else CPU), cpu, cuda.")
    ] = "auto",
    max_iterations: Annotated[
        int | None,
        typer.Option("--max-iterations", min=0, help="Stop (with a checkpoint) after N steps."),
    ] = None,
    overwrite: OverwriteOpt = False,
) -> None:
    """Train DKNet: three stages, checkpoints, validation; Ctrl-C saves a checkpoint.

    Several GPUs, or the cores of a CPU (one-thread processes run faster per iteration):
    torchrun --nproc_per_node K -m dknet.cli train CONFIG ...
    """
    from dknet.config import load_config
    from dknet.engine.train import train as run_training

    if resume and overwrite:
        raise typer.BadParameter("--resume and --overwrite exclude each other")
    cfg = load_config(config, overrides or [])
    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(),
        console=_console.err,
        transient=True,
        disable=not _console.progress_enabled(),
    ) as bar:
        task = bar.add_task("train", total=None, rate="")

        def on_progress(info: TrainProgress) -> None:
            loss = "" if math.isnan(info.loss) else f" loss {info.loss:.3f}"
            rate = info.iterations_per_second
            bar.update(
                task,
                completed=info.iteration,
                total=info.total_iterations,
                description=f"stage {info.stage} epoch {info.epoch}/{info.epochs}{loss}",
                rate="" if math.isnan(rate) else f"{rate:.2f} it/s",
            )

        summary = run_training(
            cfg,
            data=data,
            output_dir=output_dir,
            resume=resume,
            device=device,
            max_iterations=max_iterations,
            overwrite=overwrite,
            progress_callback=on_progress,
        )
    if summary.last_checkpoint is None:  # not rank 0 under torchrun
        return
    state = "interrupted" if summary.interrupted else "stopped" if summary.stopped_early else "done"
    _console.out.print(
        f"{state}: {summary.iteration} iterations, {summary.epochs_done} epochs, stage "
        f"{summary.stage}, {summary.seconds_per_iteration:.2f} s/iteration",
        highlight=False,
    )
    if summary.last_validation is not None:
        v = summary.last_validation
        _console.out.print(f"validation: AP {v['ap']} AP50 {v['ap50']} AP25 {v['ap25']}")
    _console.out.print(f"checkpoint: {escape(str(summary.last_checkpoint))}", highlight=False)
    if summary.best_checkpoint is not None:
        _console.out.print(f"best: {escape(str(summary.best_checkpoint))}", highlight=False)
    if summary.interrupted:
        raise typer.Exit(EXIT_INTERRUPTED)
