"""`dknet predict`: instances of meshes, point clouds and scan folders, with one model load."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from . import _console
from ._options import CheckpointOpt, DeviceOpt, OverwriteOpt, resolve_checkpoint

if TYPE_CHECKING:
    from dknet.engine.predict import SceneOutcome

__all__ = ["predict", "render_summary"]


def render_summary(outcomes: list[SceneOutcome]) -> None:
    """Instances per class per scene (stdout), classes as columns, failed scenes marked."""
    from rich.table import Table

    done = [o for o in outcomes if o.result is not None]
    classes: list[str] = []
    for outcome in done:
        assert outcome.result is not None
        for label in outcome.result.prediction.instances.labels.tolist():
            from dknet.io.prediction_outputs import class_name

            if class_name(label) not in classes:
                classes.append(class_name(label))
    table = Table(title=f"Instances per class ({len(done)} of {len(outcomes)} scenes predicted)")
    table.add_column("scene")
    table.add_column("vertices", justify="right")
    table.add_column("instances", justify="right")
    for name in classes:
        table.add_column(name, justify="right")
    for outcome in outcomes:
        if outcome.result is None:
            table.add_row(escape(outcome.scene_id), "[red]failed[/]", "", *[""] * len(classes))
            continue
        pred = outcome.result.prediction
        from dknet.io.prediction_outputs import class_name

        names = [class_name(label) for label in pred.instances.labels.tolist()]
        table.add_row(
            escape(outcome.scene_id),
            f"{outcome.result.scene.num_points:,}",
            str(len(names)),
            *[str(names.count(c)) if names.count(c) else "[dim]0[/]" for c in classes],
        )
    _console.out.print(table)


def predict(
    inputs: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="[INPUTS]...",
            help=".ply meshes or point clouds, ScanNet or Pointcept scene folders, folders of "
            "scenes, or glob patterns (quoted).",
            show_default=False,
        ),
    ] = None,
    checkpoint: CheckpointOpt = None,
    output_dir: Annotated[
        Path,
        typer.Option("--output-dir", "-o", help="Where the per-scene files are written."),
    ] = Path("predictions"),
    formats: Annotated[
        str,
        typer.Option(
            "--format",
            "-f",
            help="Comma-separated outputs: ply (coloured by instance, with instance/label/score "
            "per vertex), npz, json, png (top and side views), scannet (benchmark submission "
            "files).",
        ),
    ] = "ply,npz,json",
    render: Annotated[
        bool,
        typer.Option(
            "--render",
            help="Also write <scene>.png: top and side views coloured by instance, with a legend "
            "of classes and scores.",
        ),
    ] = False,
    device: DeviceOpt = "auto",
    no_superpoints: Annotated[
        bool,
        typer.Option(
            "--no-superpoints",
            help="Skip superpoint refinement (no segs.json read, no segmentation computed).",
        ),
    ] = False,
    scale: Annotated[
        float,
        typer.Option(
            "--scale",
            help="Multiply coordinates by this to get metres (0.001 for millimetres, 0.01 for "
            "centimetres).",
        ),
    ] = 1.0,
    example: Annotated[
        bool,
        typer.Option(
            "--example",
            help="Also predict the example scan bundled with dknet (a synthetic room, "
            "example_room.ply).",
        ),
    ] = False,
    overwrite: OverwriteOpt = False,
) -> None:
    """Predict the instances of every input scene; write .ply/.npz/.json (and .png) per scene."""
    from dknet.engine.predict import predict_files
    from dknet.errors import ConfigError

    if not scale > 0:
        raise ConfigError(f"--scale must be a positive number, got {scale}")
    sources = list(inputs or [])
    if example:
        from dknet.bundled import example_scene

        sources.append(str(example_scene()))
    if not sources:
        raise ConfigError(
            "no input given: pass .ply files, scene folders or globs",
            hint="or try `dknet predict --example` on the bundled example scan",
        )
    chosen = [f.strip() for f in formats.split(",") if f.strip()]
    if render and "png" not in (f.lower() for f in chosen):
        chosen.append("png")
    outcomes: list[SceneOutcome] = []
    with _console.make_progress() as bar:
        task = bar.add_task("predicting", total=None)
        for outcome in predict_files(
            sources,
            resolve_checkpoint(checkpoint),
            output_dir,
            formats=chosen,
            device=device,
            use_superpoints=not no_superpoints,
            scale=scale,
            overwrite=overwrite,
            on_start=lambda total: bar.update(task, total=total),
        ):
            outcomes.append(outcome)
            if outcome.error is not None:
                bar.console.print(
                    f"[bold red]error:[/] {escape(outcome.error.message)}", highlight=False
                )
                if outcome.error.hint:
                    bar.console.print(f"[dim]hint:[/] {escape(outcome.error.hint)}")
            bar.update(task, advance=1, description=f"predicted {escape(outcome.scene_id)}")
    render_summary(outcomes)
    done = [o for o in outcomes if o.ok]
    if done:
        _console.out.print(
            f"wrote {len(done)} scenes to {escape(str(output_dir))} ({','.join(chosen)})",
            highlight=False,
        )
    if len(done) < len(outcomes):
        raise typer.Exit(1)
