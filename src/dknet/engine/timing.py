"""``dknet timing``: per-stage inference latency, measured honestly.

Stages follow ALGORITHM.md section 12 (and the seed's Table S3):

* ``backbone``: voxel pooling, sparse U-Net, semantic and offset heads;
* ``encoding``: heat map, candidate mining, description, merging, instance kernels;
* ``decoding``: weight generation, dynamic convolution, Otsu thresholds, assignment;
* ``postprocess``: the test-time steps of section 8 (cover rescaling, size and score filters,
  superpoint refinement, class vote);

plus, apart from them, ``read`` (reading the input file) and ``write`` (writing the ply, npz and
json outputs) when real inputs are timed.

Every stage boundary synchronises the device: on CUDA a ``torch.cuda.synchronize()`` followed
by a CUDA event, whose elapsed times are read after the run; on CPU a monotonic clock. Each
scene is run ``warmup`` times untimed (JIT compilation, spconv's algorithm tuning, allocator
warm-up), then ``repeats`` times; the report gives median, p10 and p90 per stage over all timed
runs, the peak memory (process RSS on CPU, peak allocated on CUDA), the device, the versions
and the backend each op actually ran on.
"""

from __future__ import annotations

import logging
import os
import platform
import resource
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dknet import __version__
from dknet.errors import ConfigError

__all__ = [
    "MODEL_STAGES",
    "PAPER_TABLE_S3_MS",
    "StageStats",
    "cpu_name",
    "TimingResult",
    "synthetic_scan",
    "time_inference",
]

logger = logging.getLogger(__name__)

#: The four model stages, in order.
MODEL_STAGES = ("backbone", "encoding", "decoding", "postprocess")
#: The seed's Table S3 (RTX 3090, ScanNet v2 val, milliseconds per scene).
PAPER_TABLE_S3_MS = {
    "backbone": 160.6,
    "encoding": 129.3,
    "decoding": 16.3,
    "postprocess": 45.9,
    "total": 357.5,
}

ProgressCallback = Callable[[int, int], None]


@dataclass(frozen=True)
class StageStats:
    """One stage's times over the timed runs, in milliseconds."""

    median: float
    p10: float
    p90: float
    mean: float
    runs: int

    @classmethod
    def of(cls, seconds: Sequence[float]) -> StageStats:
        ms = np.asarray(seconds, dtype=np.float64) * 1000.0
        return cls(
            median=float(np.median(ms)),
            p10=float(np.percentile(ms, 10)),
            p90=float(np.percentile(ms, 90)),
            mean=float(ms.mean()),
            runs=int(ms.size),
        )


@dataclass
class TimingResult:
    """Everything ``dknet timing`` reports (and writes with ``--json``)."""

    device: str
    device_name: str
    scenes: list[dict[str, Any]]
    warmup: int
    repeats: int
    stages: dict[str, StageStats]
    peak_memory_mb: float
    memory_kind: str
    backends: dict[str, str]
    versions: dict[str, str | None]
    model: dict[str, Any]
    paper_ms: dict[str, float] = field(default_factory=lambda: dict(PAPER_TABLE_S3_MS))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["stages"] = {name: asdict(stats) for name, stats in self.stages.items()}
        return data


def synthetic_scan(points: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A ScanNet-size synthetic scan: a ``dknet synth`` room resampled to ``points`` vertices.

    Returns:
        ``(coords (points, 3) float32 metres, colors (points, 3) uint8)``.
    """
    from dknet.synth import generate_scene

    if points < 1:
        raise ConfigError(f"--points must be >= 1, got {points}")
    scene = generate_scene(0, seed=seed)
    rng = np.random.default_rng(seed)
    count = scene.vertices.shape[0]
    idx = rng.choice(count, size=points, replace=points > count)
    coords = scene.vertices[idx].astype(np.float32)
    if points > count:  # repeated vertices: jitter so the scene keeps its density pattern
        coords += rng.normal(scale=0.005, size=coords.shape).astype(np.float32)
    return coords, scene.colors[idx]


class _StageClock:
    """Stage boundaries with a device synchronisation at each (CUDA events on GPU)."""

    def __init__(self, device: Any) -> None:
        import torch

        self.torch = torch
        self.cuda = device.type == "cuda"
        self.device = device
        self.reset()

    def reset(self) -> None:
        self.names: list[str] = []
        self.marks: list[Any] = []
        self._sync()
        self.start = self._now()

    def _sync(self) -> None:
        if self.cuda:
            self.torch.cuda.synchronize(self.device)

    def _now(self) -> Any:
        if self.cuda:
            event = self.torch.cuda.Event(enable_timing=True)
            event.record()
            return event
        return time.perf_counter()

    def __call__(self, name: str) -> None:
        self._sync()
        self.names.append(name)
        self.marks.append(self._now())

    def seconds(self) -> dict[str, float]:
        self._sync()
        out: dict[str, float] = {}
        previous = self.start
        for name, mark in zip(self.names, self.marks, strict=True):
            if self.cuda:
                out[name] = previous.elapsed_time(mark) / 1000.0
            else:
                out[name] = mark - previous
            previous = mark
        return out


def _peak_memory_mb(device: Any) -> tuple[float, str]:
    import torch

    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20, "peak allocated (CUDA)"
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak_kb / 1024.0, "peak process RSS"


def _versions() -> dict[str, str | None]:
    import numba
    import torch

    from dknet.models.spconv_compat import spconv_version

    return {
        "dknet": __version__,
        "python": platform.python_version(),
        "torch": str(torch.__version__),
        "cuda": torch.version.cuda,
        "spconv": spconv_version(),
        "numba": numba.__version__,
        "numpy": np.__version__,
    }


def cpu_name() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux, else what ``platform`` knows)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _device_name(device: Any) -> str:
    import torch

    if device.type == "cuda":
        return str(torch.cuda.get_device_name(device))
    threads = torch.get_num_threads()
    return f"{cpu_name()}, {os.cpu_count()} logical CPUs, {threads} torch threads"


def time_inference(
    predictor: Any,
    *,
    inputs: Sequence[str | os.PathLike[str]] = (),
    points: int = 150_000,
    warmup: int = 1,
    repeats: int = 5,
    use_superpoints: bool = True,
    progress: ProgressCallback | None = None,
) -> TimingResult:
    """Time ``predictor`` (a :class:`dknet.engine.predict.Predictor`) stage by stage.

    Args:
        predictor: the loaded model and its device.
        inputs: files or folders as ``dknet predict`` takes them; empty: one synthetic
            ScanNet-size scan of ``points`` vertices.
        points: vertices of the synthetic scan.
        warmup: untimed runs per scene first (>= 0).
        repeats: timed runs per scene (>= 1).
        use_superpoints: superpoint refinement for inputs that carry or allow superpoints
            (the segmentation itself is timed as part of ``read``).
        progress: called with (runs done, runs total).

    Raises:
        ConfigError: bad counts; InvalidPointCloudError and friends for unreadable inputs.
    """
    import torch

    from dknet.data.batch import PointBatch
    from dknet.ops import _backend

    if warmup < 0 or repeats < 1:
        raise ConfigError(f"need --warmup >= 0 and --repeats >= 1, got {warmup} and {repeats}")
    device = predictor.device
    model = predictor.model
    scenes: list[tuple[str, Any, Any, Any]] = []  # (id, batch, scene input or None, read seconds)
    read_seconds: list[float] = []
    if inputs:
        from dknet.engine.inputs import discover_inputs, read_input
        from dknet.engine.predict import _compute_superpoints

        specs, problems = discover_inputs(inputs)
        if problems:
            raise problems[0][1]
        for spec in specs:
            start = time.perf_counter()
            scene = read_input(spec)
            superpoints = None
            if use_superpoints:
                superpoints = scene.superpoints
                if superpoints is None:
                    superpoints, _ = _compute_superpoints(scene)
            read_seconds.append(time.perf_counter() - start)
            coords = scene.coords.astype(np.float64)
            colors = scene.colors if scene.has_colors else np.full(coords.shape, 127.5)
            batch = PointBatch.from_scene(
                (coords - coords.mean(axis=0)).astype(np.float32),
                colors,
                voxel_size=model.config.voxel_size,
                scene_id=scene.scene_id,
                superpoints=superpoints,
            )
            scenes.append((scene.scene_id, batch, scene, None))
    else:
        coords, colors = synthetic_scan(points)
        batch = PointBatch.from_scene(coords - coords.mean(axis=0), colors, scene_id="synthetic")
        scenes.append(("synthetic", batch, None, None))

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    _backend.reset_used_backends()
    clock = _StageClock(device)
    per_stage: dict[str, list[float]] = {name: [] for name in (*MODEL_STAGES, "total")}
    write_seconds: list[float] = []
    total_runs = len(scenes) * (warmup + repeats)
    done = 0
    summary: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="dknet-timing-") as scratch:
        for scene_id, batch, scene, _ in scenes:
            on_device = batch.to(device)
            found = 0
            for run in range(warmup + repeats):
                clock.reset()
                predictions = model.predict(on_device, use_superpoints=use_superpoints, mark=clock)
                seconds = clock.seconds()
                done += 1
                if progress is not None:
                    progress(done, total_runs)
                if run < warmup:
                    continue
                for name in MODEL_STAGES:
                    per_stage[name].append(seconds.get(name, 0.0))
                per_stage["total"].append(sum(seconds.get(n, 0.0) for n in MODEL_STAGES))
                found = len(predictions[0].instances.labels)
                if scene is not None:
                    from dknet.engine.predict import PredictedScene, write_outputs

                    result = PredictedScene(
                        scene=scene,
                        prediction=predictions[0],
                        superpoints="timing",
                        scale=1.0,
                        seconds={},
                        warnings=(),
                    )
                    start = time.perf_counter()
                    write_outputs(Path(scratch) / f"run{run}", result)
                    write_seconds.append(time.perf_counter() - start)
            summary.append({"scene": scene_id, "points": batch.num_points, "instances": found})
    stages = {name: StageStats.of(values) for name, values in per_stage.items()}
    if read_seconds:
        stages["read"] = StageStats.of(read_seconds)
    if write_seconds:
        stages["write"] = StageStats.of(write_seconds)
    peak, kind = _peak_memory_mb(device)
    return TimingResult(
        device=str(device),
        device_name=_device_name(device),
        scenes=summary,
        warmup=warmup,
        repeats=repeats,
        stages=stages,
        peak_memory_mb=peak,
        memory_kind=kind,
        backends=_backend.used_backends(),
        versions=_versions(),
        model={
            "parameters": model.num_parameters(),
            "config": model.config.to_dict(),
            "checkpoint": str(predictor.checkpoint) if predictor.checkpoint else None,
        },
    )
