"""Inference: one loaded model, many scenes, outputs mapped 1:1 to the input's vertices.

From Python::

    from dknet.engine.predict import Predictor
    predictor = Predictor.from_checkpoint("checkpoint.pth")          # dknet's or the authors'
    result = predictor.predict(coords, colors, faces=faces)          # a ScenePrediction

or, files in and files out, as ``dknet predict`` does::

    from dknet.engine.predict import predict_files
    for outcome in predict_files(["scene.ply", "scans/"], "checkpoint.pth", "out/"):
        print(outcome.scene_id, outcome.error or outcome.paths)

The model sees coordinates centred on the scene's mean (and multiplied by ``scale``); outputs and
boxes use the coordinates as stored. Superpoint refinement uses the superpoints the input
carries (ScanNet ``segs.json``, Pointcept ``superpoint.npy``), else computes them with
:func:`dknet.segmentation.segment_mesh` (meshes) or :func:`dknet.segmentation.segment_points`
(point clouds); ``use_superpoints=False`` turns refinement off.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dknet.engine.inputs import InputSpec, SceneInput, discover_inputs, read_input, unit_warning
from dknet.errors import ConfigError, DKNetError

if TYPE_CHECKING:
    import torch

    from dknet.models import DKNet, ScenePrediction

__all__ = [
    "DEFAULT_FORMATS",
    "NEUTRAL_COLOR",
    "OUTPUT_FORMATS",
    "PredictedScene",
    "Predictor",
    "SceneOutcome",
    "predict_files",
    "resolve_device",
    "scene_document",
    "write_outputs",
]

logger = logging.getLogger(__name__)

#: Output formats of :func:`predict_files` (``png``: top and side views, see :mod:`dknet.render`;
#: ``scannet``: the benchmark's submission layout).
OUTPUT_FORMATS: tuple[str, ...] = ("ply", "npz", "json", "png", "scannet")
DEFAULT_FORMATS: tuple[str, ...] = ("ply", "npz", "json")
#: RGB given to the model for inputs without colours: mid-grey, i.e. a zero colour feature.
NEUTRAL_COLOR = 127.5


def resolve_device(device: str = "auto") -> torch.device:
    """``auto`` -> ``cuda`` when torch sees a GPU, else ``cpu``; ``cpu``, ``cuda``, ``cuda:i``.

    Raises:
        ConfigError: an unknown device, or a CUDA device when torch sees no GPU.
    """
    import torch

    name = device.strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name != "cpu" and not name.startswith("cuda"):
        raise ConfigError(
            f"unknown device {device!r}; expected auto, cpu, cuda or cuda:<index>"
        ) from None
    try:
        resolved = torch.device(name)
    except RuntimeError:
        raise ConfigError(
            f"unknown device {device!r}; expected auto, cpu, cuda or cuda:<index>"
        ) from None
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(
                f"--device {device}: torch sees no CUDA GPU (torch {torch.__version__})",
                hint="use --device cpu (or auto), or install a CUDA build of torch",
            )
        if resolved.index is not None and resolved.index >= torch.cuda.device_count():
            raise ConfigError(
                f"--device {device}: only {torch.cuda.device_count()} CUDA devices are visible"
            )
    return resolved


@dataclass(frozen=True)
class PredictedScene:
    """One scene's prediction and how it was made.

    Attributes:
        scene: the input as read (coordinates as stored).
        prediction: instances (masks (K, N) bool over the input's vertices in file order, nyu40
            labels, scores), per-vertex semantic class 0..19 and instance index (or -1).
        superpoints: how refinement got its superpoints: ``file`` (read beside the input),
            ``mesh`` or ``knn`` (computed), or ``off``.
        scale: the factor applied to the coordinates before the model.
        seconds: wall time per stage (``read``, ``superpoints``, ``model``, ``write``).
        warnings: one-line warnings about the input (no colours, units).
    """

    scene: SceneInput
    prediction: ScenePrediction
    superpoints: str
    scale: float = 1.0
    seconds: dict[str, float] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    @property
    def scene_id(self) -> str:
        """The scene's output name."""
        return self.scene.scene_id


@dataclass(frozen=True)
class SceneOutcome:
    """What happened to one input of :func:`predict_files`.

    Attributes:
        scene_id: the output name (or the argument, when nothing could be read).
        source: the input path or argument.
        result: the prediction, or None when the input failed.
        paths: the files written, by format.
        error: the domain error that stopped this input, or None.
    """

    scene_id: str
    source: str
    result: PredictedScene | None = None
    paths: dict[str, Path] = field(default_factory=dict)
    error: DKNetError | None = None

    @property
    def ok(self) -> bool:
        """Whether the scene was predicted and written."""
        return self.error is None


def _compute_superpoints(scene: SceneInput) -> tuple[np.ndarray | None, str]:
    from dknet.segmentation import segment_mesh, segment_points

    if scene.num_points < 2:
        return None, "off"
    if scene.faces is not None and scene.faces.shape[0] > 0:
        return segment_mesh(scene.coords, scene.faces), "mesh"
    return segment_points(scene.coords), "knn"


class Predictor:
    """A loaded DKNet on one device, predicting scene after scene.

    Args:
        model: the network (moved to ``device`` and put in eval mode here).
        device: where the model runs.
        checkpoint: the file the weights came from (recorded in outputs), if any.
    """

    def __init__(
        self, model: DKNet, device: torch.device | str = "cpu", *, checkpoint: Path | None = None
    ) -> None:
        import torch

        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.checkpoint = checkpoint

    @classmethod
    def from_checkpoint(
        cls, checkpoint: str | os.PathLike[str], *, device: str = "auto"
    ) -> Predictor:
        """Load ``checkpoint`` (dknet's or the authors' ``checkpoint.pth``) onto ``device``.

        Raises:
            ConfigError: the device is unknown or absent.
            CheckpointError: the file is missing, unreadable or holds no DKNet weights.
        """
        from dknet.errors import CheckpointError
        from dknet.models import load_checkpoint

        path = Path(checkpoint)
        target = resolve_device(device)  # fail on a bad device before the slow load
        if not path.is_file():
            raise CheckpointError(
                f"{path}: checkpoint not found",
                hint="pass a dknet checkpoint or the authors' checkpoint.pth with --checkpoint",
            )
        start = time.perf_counter()
        model = load_checkpoint(path, map_location="cpu")
        logger.info("loaded %s in %.1f s", path, time.perf_counter() - start)
        return cls(model, target, checkpoint=path)

    @property
    def voxel_size(self) -> float:
        """The model's voxel side in metres."""
        return float(self.model.config.voxel_size)

    def predict(
        self,
        coords: np.ndarray,
        colors: np.ndarray | None = None,
        *,
        superpoints: np.ndarray | None = None,
        scene_id: str = "scene",
    ) -> ScenePrediction:
        """Predict one scene given as arrays.

        Args:
            coords: (N, 3) float coordinates in metres, any origin (centred here).
            colors: (N, 3) RGB, uint8 or float in [0, 255]; None gives :data:`NEUTRAL_COLOR`.
            superpoints: optional (N,) int segment ids for superpoint refinement.
            scene_id: the name carried by the result.

        Returns:
            The prediction, aligned with ``coords`` row for row.
        """
        from dknet.data.batch import PointBatch

        xyz = np.asarray(coords, dtype=np.float64)
        centred = (xyz - xyz.mean(axis=0)).astype(np.float32) if xyz.size else xyz
        rgb = (
            np.full(xyz.shape, NEUTRAL_COLOR, dtype=np.float32)
            if colors is None
            else np.asarray(colors)
        )
        batch = PointBatch.from_scene(
            centred,
            rgb,
            voxel_size=self.voxel_size,
            scene_id=scene_id,
            superpoints=superpoints,
        ).to(self.device)
        return self.model.predict(batch, use_superpoints=superpoints is not None)[0]

    def predict_scene(
        self, scene: SceneInput, *, use_superpoints: bool = True, scale: float = 1.0
    ) -> PredictedScene:
        """Predict one scene read by :func:`dknet.engine.inputs.read_input`.

        Args:
            scene: the input.
            use_superpoints: refine with superpoints (read from the input, else computed).
            scale: factor turning the stored coordinates into metres (e.g. 0.001 for mm).

        Returns:
            The prediction with the stage timings and input warnings.

        Raises:
            ConfigError: ``scale`` is not a positive finite number.
        """
        if not (np.isfinite(scale) and scale > 0):
            raise ConfigError(f"--scale must be a positive number, got {scale}")
        warnings: list[str] = []
        if not scene.has_colors:
            warnings.append(
                f"{scene.source}: no vertex colours; predicting with neutral grey (expect lower "
                "accuracy than on a coloured scan)"
            )
        units = unit_warning(scene.coords, scale)
        if units is not None:
            warnings.append(f"{scene.source}: {units}")
        seconds: dict[str, float] = {}
        start = time.perf_counter()
        superpoints, how = None, "off"
        if use_superpoints:
            if scene.superpoints is not None:
                superpoints, how = scene.superpoints, "file"
            else:
                superpoints, how = _compute_superpoints(scene)
        seconds["superpoints"] = time.perf_counter() - start
        start = time.perf_counter()
        coords = scene.coords if scale == 1.0 else scene.coords.astype(np.float64) * scale
        colors = scene.colors if scene.has_colors else None
        prediction = self.predict(coords, colors, superpoints=superpoints, scene_id=scene.scene_id)
        seconds["model"] = time.perf_counter() - start
        return PredictedScene(
            scene=scene,
            prediction=prediction,
            superpoints=how,
            scale=scale,
            seconds=seconds,
            warnings=tuple(warnings),
        )


def _check_formats(formats: Sequence[str]) -> tuple[str, ...]:
    chosen = tuple(dict.fromkeys(f.strip().lower() for f in formats if f.strip()))
    unknown = [f for f in chosen if f not in OUTPUT_FORMATS]
    if unknown or not chosen:
        raise ConfigError(
            f"unknown output format {', '.join(unknown) or '(none)'}; expected a comma-separated "
            f"list of {', '.join(OUTPUT_FORMATS)}"
        )
    return chosen


def predict_files(
    inputs: Iterable[str | os.PathLike[str]],
    checkpoint: str | os.PathLike[str] | Predictor,
    output_dir: str | os.PathLike[str],
    *,
    formats: Sequence[str] = DEFAULT_FORMATS,
    device: str = "auto",
    use_superpoints: bool = True,
    scale: float = 1.0,
    overwrite: bool = False,
    on_start: Any = None,
) -> Iterator[SceneOutcome]:
    """Predict every scene of ``inputs`` with one model load, writing outputs per scene.

    Inputs that cannot be found or read yield a failed :class:`SceneOutcome` (its ``error`` is the
    one-line reason); the other scenes still complete. The model is loaded only when there is
    at least one scene to predict.

    Args:
        inputs: files, folders or glob patterns (see :mod:`dknet.engine.inputs`).
        checkpoint: a checkpoint path, or a ready :class:`Predictor`.
        output_dir: where ``<scene>.ply``, ``<scene>.npz``, ``<scene>.json``, ``<scene>.png``
            and (format ``scannet``) ``scannet/<scene>.txt`` + ``scannet/predicted_masks/`` go.
        formats: any of :data:`OUTPUT_FORMATS`.
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:<i>``.
        use_superpoints: superpoint refinement (read or computed superpoints).
        scale: factor turning stored coordinates into metres.
        overwrite: replace existing output files (default: such a scene fails, untouched).
        on_start: optional callable ``on_start(num_scenes)``, called once the inputs are known
            (before the model loads), e.g. to size a progress bar.

    Yields:
        One outcome per input scene (and per argument that gave no scene), in input order.

    Raises:
        ConfigError: unknown format, bad device, or ``scale`` not positive (before any work).
        CheckpointError: the checkpoint cannot be loaded.
    """
    chosen = _check_formats(formats)
    if not (np.isfinite(scale) and scale > 0):
        raise ConfigError(f"--scale must be a positive number, got {scale}")
    out = Path(output_dir)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--output-dir {out}: exists and is not a folder")
    specs, problems = discover_inputs(inputs)
    if on_start is not None:
        on_start(len(specs) + len(problems))
    for argument, error in problems:
        yield SceneOutcome(scene_id=argument, source=argument, error=error)
    if not specs:
        return
    predictor = (
        checkpoint
        if isinstance(checkpoint, Predictor)
        else Predictor.from_checkpoint(checkpoint, device=device)
    )
    for spec in specs:
        yield _predict_one(predictor, spec, out, chosen, use_superpoints, scale, overwrite)


def _predict_one(
    predictor: Predictor,
    spec: InputSpec,
    out: Path,
    formats: tuple[str, ...],
    use_superpoints: bool,
    scale: float,
    overwrite: bool,
) -> SceneOutcome:
    from dknet.errors import InvalidPointCloudError
    from dknet.io.prediction_outputs import output_paths

    source = os.fspath(spec.path)
    try:
        paths = output_paths(out, spec.scene_id, formats)
        existing = [p for p in paths.values() if p.exists()]
        if existing and not overwrite:
            raise InvalidPointCloudError(
                f"{existing[0]}: output already exists (scene {spec.scene_id} not predicted)",
                hint="pass --overwrite to replace it, or choose another --output-dir",
            )
        start = time.perf_counter()
        scene = read_input(spec)
        read_seconds = time.perf_counter() - start
        result = predictor.predict_scene(scene, use_superpoints=use_superpoints, scale=scale)
        for message in result.warnings:
            logger.warning("%s", message)
        start = time.perf_counter()
        written = write_outputs(out, result, formats, checkpoint=predictor.checkpoint)
        result.seconds["read"] = read_seconds
        result.seconds["write"] = time.perf_counter() - start
    except DKNetError as exc:
        return SceneOutcome(scene_id=spec.scene_id, source=source, error=exc)
    return SceneOutcome(scene_id=spec.scene_id, source=source, result=result, paths=written)


def scene_document(result: PredictedScene, *, checkpoint: Path | None = None) -> dict[str, Any]:
    """The ``<scene>.json`` content: scene facts, then one entry per instance."""
    from dknet import __version__
    from dknet.io.prediction_outputs import class_name, instance_summaries

    scene, pred = result.scene, result.prediction
    counts: dict[str, int] = {}
    for label in pred.instances.labels.tolist():
        counts[class_name(label)] = counts.get(class_name(label), 0) + 1
    return {
        "scene_id": scene.scene_id,
        "source": str(scene.source),
        "input_kind": scene.kind,
        "num_vertices": scene.num_points,
        "num_faces": 0 if scene.faces is None else int(scene.faces.shape[0]),
        "has_colors": scene.has_colors,
        "scale": result.scale,
        "superpoints": result.superpoints,
        "checkpoint": None if checkpoint is None else str(checkpoint),
        "dknet_version": __version__,
        "num_instances": len(pred.instances),
        "instances_per_class": dict(sorted(counts.items())),
        "seconds": {k: round(v, 4) for k, v in result.seconds.items()},
        "warnings": list(result.warnings),
        "instances": instance_summaries(pred.instances, pred.point_instance, scene.coords),
    }


def write_outputs(
    output_dir: str | os.PathLike[str],
    result: PredictedScene,
    formats: Sequence[str] = DEFAULT_FORMATS,
    *,
    checkpoint: Path | None = None,
) -> dict[str, Path]:
    """Write one scene's outputs (see :mod:`dknet.io.prediction_outputs`), each atomically.

    Returns:
        The written file per format (``scannet``: the scene's ``<scene>.txt``).
    """
    from dknet.io import prediction_outputs as po

    scene, pred = result.scene, result.prediction
    paths = po.output_paths(output_dir, scene.scene_id, formats)
    fields = po.vertex_fields(pred.instances, pred.point_instance, pred.semantic_labels)
    for fmt, path in paths.items():
        if fmt == "ply":
            po.write_prediction_ply(path, scene.coords, fields, faces=scene.faces)
        elif fmt == "npz":
            po.write_prediction_npz(path, pred.instances, fields)
        elif fmt == "json":
            po.write_prediction_json(path, scene_document(result, checkpoint=checkpoint))
        elif fmt == "png":
            from dknet.render import render_instances

            render_instances(
                path,
                scene.coords,
                pred.point_instance,
                pred.instances.labels,
                pred.instances.scores,
                title=scene.scene_id,
            )
        elif fmt == "scannet":
            po.write_submission_scene(path.parent, scene.scene_id, pred.instances)
    return paths
