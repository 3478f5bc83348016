"""`dknet timing`: per-stage inference latency with device synchronisation, beside Table S3."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from . import _console
from ._options import CheckpointOpt, JsonOutOpt, resolve_checkpoint

__all__ = ["timing"]

_STAGE_LABELS = {
    "backbone": "backbone",
    "encoding": "encoding",
    "decoding": "decoding",
    "postprocess": "post-processing",
    "total": "total (model)",
    "read": "read input",
    "write": "write outputs",
}


def timing(
    inputs: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="INPUTS",
            help="Scenes to time, as `dknet predict` takes them (default: a synthetic "
            "ScanNet-size scan).",
            show_default=False,
        ),
    ] = None,
    points: Annotated[
        int, typer.Option("--points", min=1, help="Vertices of the synthetic scan.")
    ] = 150_000,
    checkpoint: CheckpointOpt = None,
    config: Annotated[
        str | None,
        typer.Option(
            "--config",
            help="Time a randomly initialised model of this configuration (paper or cpu) "
            "instead of the bundled default model. Speed barely depends on the weights; "
            "instance counts do.",
            show_default=False,
        ),
    ] = None,
    device: Annotated[
        str, typer.Option("--device", help="cpu, cuda or cuda:<i> (auto: CUDA if available).")
    ] = "auto",
    warmup: Annotated[int, typer.Option("--warmup", min=0, help="Untimed runs first.")] = 2,
    repeats: Annotated[int, typer.Option("--repeats", min=1, help="Timed runs per scene.")] = 5,
    no_superpoints: Annotated[
        bool, typer.Option("--no-superpoints", help="Skip superpoint refinement.")
    ] = False,
    json_out: JsonOutOpt = None,
) -> None:
    """Time inference stage by stage, synchronising the device at every stage boundary.

    Stages: backbone (voxel pooling, U-Net, semantic and offset heads), encoding (heat map,
    mining, description, merging, kernels), decoding (weight generation, dynamic convolution,
    Otsu, assignment), post-processing (rescoring, filters, superpoint refinement); with INPUTS
    also reading the input (with superpoints) and writing the ply/npz/json outputs. Median,
    p10 and p90 per stage beside the paper's Table S3 (RTX 3090), peak memory, versions and the
    backend each op ran on; --json writes all of it.
    """
    import json

    from rich.table import Table

    from dknet.engine.predict import Predictor, resolve_device
    from dknet.engine.timing import MODEL_STAGES, time_inference
    from dknet.errors import ConfigError
    from dknet.io.atomic import atomic_write_text

    target = resolve_device(device)
    if checkpoint is not None and config is not None:
        raise ConfigError("give either --checkpoint or --config, not both")
    if config is None:
        path = resolve_checkpoint(checkpoint)
        predictor = Predictor.from_checkpoint(path, device=str(target))
        model_text = str(checkpoint) if checkpoint is not None else "bundled default model"
    else:
        from dknet.models import DKNet, ModelConfig

        if config not in ("paper", "cpu"):
            raise ConfigError(f"--config must be paper or cpu, got {config!r}")
        import torch

        torch.manual_seed(0)
        cfg = ModelConfig.paper() if config == "paper" else ModelConfig.cpu()
        predictor = Predictor(DKNet(cfg), target)
        model_text = f"{config} configuration, random weights"
    with _console.make_progress() as bar:
        task = bar.add_task("timing runs", total=None)

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        result = time_inference(
            predictor,
            inputs=inputs or (),
            points=points,
            warmup=warmup,
            repeats=repeats,
            use_superpoints=not no_superpoints,
            progress=advance,
        )
    table = Table(
        title=f"dknet timing: {result.device_name} ({result.device}), {model_text}",
        caption="; ".join(
            [
                *(
                    f"{s['scene']}: {s['points']:,} points, {s['instances']} instances"
                    for s in result.scenes
                ),
                f"{result.repeats} runs after {result.warmup} warm-up",
                f"{result.memory_kind} {result.peak_memory_mb:,.0f} MB",
                "ops: " + ", ".join(f"{op} {b}" for op, b in sorted(result.backends.items())),
            ]
        ),
    )
    table.add_column("stage")
    for column in ("median ms", "p10 ms", "p90 ms", "paper ms (RTX 3090)"):
        table.add_column(column, justify="right")
    for name in (*MODEL_STAGES, "total", "read", "write"):
        if name not in result.stages:
            continue
        stats = result.stages[name]
        paper = result.paper_ms.get(name)
        table.add_row(
            _STAGE_LABELS[name],
            f"{stats.median:,.1f}",
            f"{stats.p10:,.1f}",
            f"{stats.p90:,.1f}",
            f"{paper:,.1f}" if paper is not None else "",
            style="bold" if name == "total" else None,
        )
    _console.out.print(table)
    if json_out is not None:
        atomic_write_text(Path(json_out), json.dumps(result.to_dict(), indent=2) + "\n")
        _console.err.print(f"wrote {json_out}")
