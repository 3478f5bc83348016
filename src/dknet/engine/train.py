"""Train DKNet on ``dknet preprocess`` output: stages, schedule, checkpoints, validation, DDP.

From Python::

    from dknet.config import load_config
    from dknet.engine.train import train
    summary = train(load_config("configs/synthetic.yaml"), data="data", output_dir="runs/synth")

The three stages follow ALGORITHM.md section 10 by epoch (``train.stage2_epoch``,
``train.stage3_epoch``, counted from 1). The learning rate is constant for
``train.constant_lr_epochs`` epochs, then follows a cosine, stepped every iteration, down to
``train.min_lr`` at the end of the last epoch.

Output folder::

    config.yaml            the resolved config of the run
    metrics.jsonl          one JSON object per line: training losses every ``log_every``
                           iterations ("kind": "train") and every validation ("kind": "val")
    checkpoints/last.pth   the latest state (written at every epoch end and on interruption)
    checkpoints/best.pth   the best validation ``train.best_metric`` so far
    checkpoints/epoch_NNNN.pth   every ``train.keep_every`` epochs
    tensorboard/           the same scalars, when the ``tensorboard`` extra is installed

Checkpoints are dknet checkpoints (:func:`dknet.models.save_checkpoint`: written to a temporary
file and renamed, loadable with ``weights_only=True``) with the training state beside the
model: the resolved config, epoch, position inside the epoch, iteration, stage, optimizer,
scheduler, grad scaler and every RNG state (torch CPU and CUDA, numpy, Python; of every rank).

Resuming is exact: each epoch's order is rebuilt from ``(seed, epoch)`` by the
``DistributedSampler`` (also with one process), the batches already consumed are skipped by
index (without loading them), and each scene's augmentation depends only on
``(seed, epoch, index)`` (:class:`~dknet.data.SceneDataset`). In deterministic mode, a run
stopped after k iterations and resumed ends with the same parameters as one never stopped.

Under ``torchrun`` (``WORLD_SIZE`` > 1) the model runs in ``DistributedDataParallel`` (gloo on
CPU, NCCL on CUDA); the backbone's BatchNorms are synchronised over the processes
(:mod:`dknet.engine.sync_batchnorm`, also on CPU), the heads' stay per process;
``train.batch_size`` is the global batch, split evenly over the processes. Only rank 0 writes
files, logs metrics and validates; the others wait for it at a barrier with
``train.dist_timeout_min``, and torchrun stops every process when one fails.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import logging
import math
import os
import random
import shutil
import signal
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from dknet.config import DKNetConfig, config_from_dict, config_to_dict, config_to_yaml
from dknet.errors import CheckpointError, ConfigError, DatasetLayoutError

if TYPE_CHECKING:
    from dknet.data import SceneDataset
    from dknet.evaluation import EvalResult
    from dknet.models import DKNet

__all__ = [
    "TrainProgress",
    "TrainSummary",
    "ProgressCallback",
    "lr_factor",
    "train",
]

logger = logging.getLogger(__name__)

CONFIG_NAME = "config.yaml"
METRICS_NAME = "metrics.jsonl"
CHECKPOINT_DIR = "checkpoints"
LAST_NAME = "last.pth"
BEST_NAME = "best.pth"
#: Metrics that may choose the best checkpoint.
BEST_METRICS = ("ap", "ap50", "ap25")


@dataclass(frozen=True)
class TrainProgress:
    """What the training loop reports to its progress callback.

    Attributes:
        event: ``start``, ``iteration``, ``validation``, ``checkpoint`` or ``end``.
        stage: the stage in force (1, 2, 3).
        epoch: the current epoch, counted from 1.
        epochs: epochs in all.
        iteration: optimiser steps done so far (whole run).
        total_iterations: optimiser steps of the whole run.
        loss: the last total loss (NaN before the first step).
        lr: the current learning rate.
        iterations_per_second: over the iterations of this process so far.
        metrics: validation scores (``validation`` events) or None.
    """

    event: str
    stage: int
    epoch: int
    epochs: int
    iteration: int
    total_iterations: int
    loss: float = math.nan
    lr: float = math.nan
    iterations_per_second: float = math.nan
    metrics: dict[str, Any] | None = None


ProgressCallback = Callable[[TrainProgress], None]


@dataclass(frozen=True)
class TrainSummary:
    """The outcome of :func:`train`.

    Attributes:
        output_dir: the run's folder.
        iteration: optimiser steps done in all.
        epochs_done: complete epochs.
        stage: the stage of the last step.
        interrupted: stopped by a signal (Ctrl-C, SIGTERM) after saving a checkpoint.
        stopped_early: stopped by ``max_iterations`` after saving a checkpoint.
        last_checkpoint: path of ``last.pth`` (None when nothing was written: not rank 0).
        best_checkpoint: path of ``best.pth``, if a validation ran.
        best_metric: the best validation score (``train.best_metric``) or NaN.
        last_validation: the last validation's scores (``ap``, ``ap50``, ``ap25``, per class).
        last_losses: the named losses of the last step.
        seconds: wall time of this call.
        seconds_per_iteration: mean wall time of the steps of this call.
    """

    output_dir: Path
    iteration: int
    epochs_done: int
    stage: int
    interrupted: bool = False
    stopped_early: bool = False
    last_checkpoint: Path | None = None
    best_checkpoint: Path | None = None
    best_metric: float = math.nan
    last_validation: dict[str, Any] | None = None
    last_losses: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    seconds_per_iteration: float = math.nan


def lr_factor(step: int, iterations_per_epoch: int, config: DKNetConfig) -> float:
    """The learning rate of optimiser step ``step`` (from 0) relative to ``train.lr``.

    1 for the first ``constant_lr_epochs`` epochs, then a cosine, stepped every iteration,
    reaching ``min_lr / lr`` at the end of the last epoch.
    """
    train = config.train
    epochs_done = step / max(iterations_per_epoch, 1)
    span = train.epochs - train.constant_lr_epochs
    if epochs_done < train.constant_lr_epochs or span <= 0:
        return 1.0
    t = min(1.0, (epochs_done - train.constant_lr_epochs) / span)
    floor = train.min_lr / train.lr
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * t))


# --------------------------------------------------------------------------- distributed


@dataclass(frozen=True)
class _Dist:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    owns_group: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def _init_distributed(device: torch.device, timeout_min: int) -> _Dist:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return _Dist(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return _Dist()
    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(backend, timeout=datetime.timedelta(minutes=timeout_min))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    logger.info("rank %d of %d (%s)", dist.get_rank(), world, backend)
    return _Dist(dist.get_rank(), dist.get_world_size(), local, owns_group=True)


def _any_rank(flag: bool, dist_info: _Dist, device: torch.device) -> bool:
    """True when ``flag`` is true on any rank (a collective: every rank must call it)."""
    if not dist_info.enabled:
        return flag
    import torch.distributed as dist

    value = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item() > 0)


def _resolve_device(device: str, dist_info_local_rank: int) -> torch.device:
    name = device.strip().lower()
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name != "cpu" and not name.startswith("cuda"):
        raise ConfigError(f"unknown device {device!r}; expected auto, cpu, cuda or cuda:<index>")
    try:
        resolved = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"unknown device {device!r}; expected auto, cpu or cuda") from None
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(
                f"--device {device}: torch sees no CUDA GPU", hint="use --device cpu (or auto)"
            )
        if resolved.index is None and int(os.environ.get("WORLD_SIZE", "1")) > 1:
            resolved = torch.device("cuda", dist_info_local_rank)
    return resolved


# --------------------------------------------------------------------------- RNG state


def _rng_state() -> dict[str, Any]:
    """Every global RNG state as plain data (loadable with ``weights_only=True``)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()  # type: ignore[misc]
    py_version, py_state, py_gauss = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "kind": str(kind),
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "python": [int(py_version), [int(v) for v in py_state], py_gauss],
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"].cpu())
    numpy_state = state["numpy"]
    np.random.set_state(
        (
            numpy_state["kind"],
            numpy_state["keys"].numpy().astype(np.uint32),
            numpy_state["pos"],
            numpy_state["has_gauss"],
            numpy_state["cached_gaussian"],
        )
    )
    version, values, gauss = state["python"]
    random.setstate((version, tuple(values), gauss))
    if "cuda" in state and torch.cuda.is_available():
        cuda_states = [s.cpu() for s in state["cuda"]]
        if len(cuda_states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda_states)


# --------------------------------------------------------------------------- output folder


def _prepare_output(output_dir: Path, *, resume: bool, overwrite: bool, clear: bool) -> Path | None:
    """Check the output folder against the flags; return the checkpoint to resume from.

    ``clear``: remove the old run's files when ``overwrite`` (rank 0 only).
    """
    last = output_dir / CHECKPOINT_DIR / LAST_NAME
    holds_run = (output_dir / CONFIG_NAME).is_file() or last.is_file()
    if resume:
        if not last.is_file():
            raise ConfigError(
                f"{output_dir}: nothing to resume (no {CHECKPOINT_DIR}/{LAST_NAME})",
                hint="start a new run without --resume",
            )
        return last
    if holds_run and not overwrite:
        raise ConfigError(
            f"{output_dir}: already holds a training run",
            hint="pass --resume to continue it, --overwrite to replace it, or another --output-dir",
        )
    if holds_run and overwrite and clear:
        for name in (CHECKPOINT_DIR, "tensorboard"):
            shutil.rmtree(output_dir / name, ignore_errors=True)
        for name in (CONFIG_NAME, METRICS_NAME):
            (output_dir / name).unlink(missing_ok=True)
    return None


def _check_resumed_config(stored: dict[str, Any], config: DKNetConfig, source: Path) -> None:
    """A different model is an error; other differences are logged."""
    try:
        previous = config_from_dict(stored)
    except ConfigError as exc:
        raise CheckpointError(f"{source}: malformed training config ({exc})") from None
    if previous.model != config.model:
        old, new = dataclasses.asdict(previous.model), dataclasses.asdict(config.model)
        diffs = [f"model.{k} {old[k]!r} -> {new[k]!r}" for k in old if old[k] != new[k]]
        raise CheckpointError(
            f"{source}: checkpoint from another model configuration ({'; '.join(diffs[:5])})",
            hint="resume with the run's own config (its config.yaml), or start a new run",
        )
    for section in ("data", "train"):
        old_s = dataclasses.asdict(getattr(previous, section))
        new_s = dataclasses.asdict(getattr(config, section))
        for key in old_s:
            if old_s[key] != new_s[key]:
                logger.warning(
                    "resuming with %s.%s = %r (the run used %r)",
                    section,
                    key,
                    new_s[key],
                    old_s[key],
                )


class _MetricsWriter:
    """JSON lines (and TensorBoard scalars when available), rank 0 only."""

    def __init__(self, output_dir: Path, *, enabled: bool, after_iteration: int | None) -> None:
        self.path = output_dir / METRICS_NAME
        self.enabled = enabled
        self.tensorboard: Any = None
        if not enabled:
            return
        if after_iteration is not None and self.path.is_file():
            # Drop lines logged after the checkpoint we resume from; they will be redone.
            kept = [
                line
                for line in self.path.read_text(encoding="utf-8").splitlines()
                if line.strip() and json.loads(line).get("iteration", 0) <= after_iteration
            ]
            self.path.write_text("".join(f"{line}\n" for line in kept), encoding="utf-8")
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            logger.info("tensorboard is not installed; metrics go to %s only", self.path)
        else:
            self.tensorboard = SummaryWriter(log_dir=str(output_dir / "tensorboard"))

    def write(self, record: dict[str, Any]) -> None:
        if not self.enabled:
            return
        with self.path.open("a", encoding="utf-8") as stream:
            stream.write(json.dumps(record, allow_nan=False, default=_json_default) + "\n")
        if self.tensorboard is not None:
            kind = record.get("kind", "train")
            for key, value in record.items():
                if isinstance(value, (int, float)) and key not in ("iteration", "epoch"):
                    self.tensorboard.add_scalar(f"{kind}/{key}", value, record["iteration"])

    def close(self) -> None:
        if self.tensorboard is not None:
            self.tensorboard.close()


def _json_default(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


# --------------------------------------------------------------------------- signals


@contextmanager
def _stop_on_signals() -> Iterator[dict[str, bool]]:
    """Turn SIGINT/SIGTERM into a flag checked between iterations (main thread only)."""
    flag = {"stop": False}

    def handler(signum: int, frame: Any) -> None:
        del frame
        if flag["stop"]:  # a second Ctrl-C: stop now, without the checkpoint
            raise KeyboardInterrupt
        flag["stop"] = True
        logger.warning(
            "%s received: writing a checkpoint after this iteration", signal.Signals(signum).name
        )

    previous: dict[signal.Signals, Any] = {}
    try:
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, handler)
    except ValueError:  # not the main thread: leave signals alone
        pass
    try:
        yield flag
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


# --------------------------------------------------------------------------- data


def _datasets(config: DKNetConfig, data: Path) -> tuple[SceneDataset, list[str] | None]:
    from dknet.data import SceneDataset
    from dknet.engine.evaluate import split_scenes

    if not (data / "scenes").is_dir():
        raw = (data / "scans").is_dir() or (data / "train").is_dir()
        raise DatasetLayoutError(
            f"{data}: not `dknet preprocess` output (no scenes/ folder)",
            hint=f"this looks like a raw dataset: run `dknet preprocess scannet {data} DATA` "
            "and pass --data DATA"
            if raw
            else "run `dknet preprocess scannet RAW_ROOT DATA` first and pass --data DATA",
        )
    train_ids = split_scenes(data, config.data.train_split, split_file=config.data.train_split_file)
    dataset = SceneDataset(
        data,
        scene_ids=train_ids,
        augmentation=config.augmentation(),
        voxel_size=config.model.voxel_size,
        seed=config.train.seed,
        skip_empty=True,
    )
    val_ids: list[str] | None = None
    if config.data.val_split:
        val_ids = split_scenes(data, config.data.val_split, split_file=config.data.val_split_file)
        missing = [s for s in val_ids if not (data / "ground_truth" / f"{s}.txt").is_file()]
        if missing:
            raise DatasetLayoutError(
                f"{len(missing)} validation scenes have no ground truth in "
                f"{data / 'ground_truth'} (first: {missing[0]})",
                hint="validate on a labelled split, or set data.val_split=''",
            )
    return dataset, val_ids


def _epoch_batches(
    dataset: SceneDataset, epoch: int, per_rank: int, dist_info: _Dist, config: DKNetConfig
) -> list[list[int]]:
    """This rank's batches of ``epoch`` (index lists), fixed by ``(seed, epoch)``."""
    from torch.utils.data import DistributedSampler

    sampler: DistributedSampler[Any] = DistributedSampler(
        dataset,
        num_replicas=dist_info.world_size,
        rank=dist_info.rank,
        shuffle=True,
        seed=config.train.seed,
        drop_last=False,
    )
    sampler.set_epoch(epoch)
    indices = list(sampler)
    batches = [indices[i : i + per_rank] for i in range(0, len(indices), per_rank)]
    if config.train.drop_last and batches and len(batches[-1]) < per_rank:
        batches.pop()
    return batches


# --------------------------------------------------------------------------- validation


def _validate(
    model: DKNet,
    data: Path,
    config: DKNetConfig,
    device: torch.device,
) -> EvalResult:
    """Score ``model`` on the validation split (through :func:`evaluate_split`)."""
    from dknet.engine.evaluate import evaluate_split
    from dknet.engine.predict import Predictor

    try:
        return evaluate_split(
            data,
            Predictor(model, device),
            split=str(config.data.val_split),
            split_file=config.data.val_split_file,
        )
    finally:
        model.train()


def _val_record(result: EvalResult) -> dict[str, Any]:
    record = {
        "ap": _finite(result.ap),
        "ap50": _finite(result.ap50),
        "ap25": _finite(result.ap25),
        "classes": {
            c.name: {"ap": _finite(c.ap), "ap50": _finite(c.ap50), "ap25": _finite(c.ap25)}
            for c in result.classes
        },
    }
    if result.semantic is not None:
        record["semantic_miou"] = _finite(float(getattr(result.semantic, "miou", math.nan)))
    return record


# --------------------------------------------------------------------------- the loop


def _weighted_total(losses: dict[str, torch.Tensor], config: DKNetConfig) -> torch.Tensor:
    weights = dataclasses.asdict(config.train.loss_weights)
    parts = [weights.get(name, 1.0) * value for name, value in losses.items() if name != "total"]
    return torch.stack(parts).sum()


def _launch_numba_threads() -> None:
    """Start Numba's thread pool now, keeping torch's intra-op thread count.

    Numba's OpenMP layer resets the OpenMP thread count, which torch shares, when its pool
    starts: on the first parallel call (candidate mining, the first stage-2 step). A count that
    changes mid-run changes torch's float reduction order, so a resumed run (whose pool starts
    at another step) would drift from an uninterrupted one. Starting the pool up front and
    restoring the count makes every step run with the same threads.

    Numba's pool is also sized to torch's thread count (unless ``NUMBA_NUM_THREADS`` is set):
    under ``torchrun`` on CPU each process gets ``OMP_NUM_THREADS=1``, and Numba's default of
    one thread per core in every process oversubscribes the cores (two processes on 2 cores:
    3.6 s per stage-3 step with 2 Numba threads each, 2.5-3.2 s with one).
    """
    threads = torch.get_num_threads()
    if "numba" not in sys.modules and "NUMBA_NUM_THREADS" not in os.environ:
        # A pool of this size (a smaller pool started and masked still costs time).
        os.environ["NUMBA_NUM_THREADS"] = str(threads)
    try:
        import numba
    except ImportError:
        return
    numba.get_num_threads()  # launches the pool
    pool = int(numba.config.NUMBA_NUM_THREADS)  # type: ignore[attr-defined]
    numba.set_num_threads(max(1, min(threads, pool)))
    torch.set_num_threads(threads)


def _configure_determinism(config: DKNetConfig, device: torch.device) -> None:
    if not config.train.deterministic:
        return
    if device.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        # spconv's CUDA kernels and scatter ops have no deterministic variant: warn, not fail.
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
    else:
        torch.use_deterministic_algorithms(True)


def train(
    config: DKNetConfig,
    *,
    data: str | os.PathLike[str],
    output_dir: str | os.PathLike[str],
    resume: bool = False,
    device: str = "auto",
    max_iterations: int | None = None,
    overwrite: bool = False,
    progress_callback: ProgressCallback | None = None,
) -> TrainSummary:
    """Train DKNet from scratch or resume a run (see the module docstring).

    Args:
        config: the resolved config (:func:`dknet.config.load_config`).
        data: ``dknet preprocess`` output with the split lists beside it (or given in
            ``config.data``).
        output_dir: the run's folder (created).
        resume: continue the run in ``output_dir`` from ``checkpoints/last.pth``.
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:<i>`` (under torchrun, ``cuda`` means
            each process's ``LOCAL_RANK``).
        max_iterations: stop (with a checkpoint) once this many optimiser steps are done in
            all, counting the steps before a resume; None: train every epoch.
        overwrite: replace a run already in ``output_dir``.
        progress_callback: called with a :class:`TrainProgress` at every step and event (rank
            0 only).

    Returns:
        A :class:`TrainSummary`.

    Raises:
        ConfigError: bad device, output folder holding another run (without ``resume`` or
            ``overwrite``), nothing to resume, a batch size the processes cannot share, fewer
            training scenes than one batch.
        DatasetLayoutError: ``data`` is not ``dknet preprocess`` output, or its splits are
            missing.
        CheckpointError: the checkpoint to resume is unreadable or from another model
            configuration.
    """
    started = time.perf_counter()
    data_dir = Path(data)
    out = Path(output_dir)
    if max_iterations is not None and max_iterations < 0:
        raise ConfigError(f"--max-iterations must be >= 0, got {max_iterations}")
    if config.train.best_metric not in BEST_METRICS:
        raise ConfigError(f"train.best_metric must be one of {BEST_METRICS}")
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    target = _resolve_device(device, local_rank)
    dist_info = _init_distributed(target, config.train.dist_timeout_min)
    if not dist_info.is_main:  # rank 0 alone logs; the others report errors only
        logging.getLogger("dknet").setLevel(logging.ERROR)
    try:
        return _train(
            config,
            data_dir=data_dir,
            out=out,
            resume=resume,
            device=target,
            max_iterations=max_iterations,
            overwrite=overwrite,
            progress_callback=progress_callback,
            dist_info=dist_info,
            started=started,
        )
    finally:
        if dist_info.owns_group:
            import torch.distributed as dist

            dist.destroy_process_group()


def init_source(value: str) -> Path:
    """The file ``train.init_from`` names: ``default`` is the bundled default model.

    Raises:
        CheckpointError: ``default`` and the bundled model is missing or damaged.
    """
    if value == "default":
        from dknet.bundled import default_model

        return default_model().path
    return Path(value)


def _init_weights(model: DKNet, source: Path) -> None:
    """Load the model weights of ``source`` (``train.init_from``) into ``model``.

    Raises:
        CheckpointError: the file is missing, unreadable, or its weights do not fit.
    """
    from dknet.models.checkpoint import load_state, model_state_dict, read_checkpoint

    if not source.is_file():
        raise CheckpointError(f"{source}: train.init_from checkpoint not found")
    state = model_state_dict(read_checkpoint(source), source)
    load_state(model, state, source=str(source))
    logger.info("initialised the weights from %s", source)


def _train(
    config: DKNetConfig,
    *,
    data_dir: Path,
    out: Path,
    resume: bool,
    device: torch.device,
    max_iterations: int | None,
    overwrite: bool,
    progress_callback: ProgressCallback | None,
    dist_info: _Dist,
    started: float,
) -> TrainSummary:
    from torch.utils.data import DataLoader

    from dknet.data import collate_scenes, seeded_generator, worker_init_fn
    from dknet.models import DKNet, save_checkpoint
    from dknet.models.checkpoint import load_state, read_checkpoint

    train_cfg = config.train
    is_main = dist_info.is_main

    if train_cfg.batch_size % dist_info.world_size:
        raise ConfigError(
            f"train.batch_size {train_cfg.batch_size} is not divisible by the "
            f"{dist_info.world_size} processes"
        )
    per_rank = train_cfg.batch_size // dist_info.world_size
    resume_from = _prepare_output(out, resume=resume, overwrite=overwrite, clear=is_main)
    if dist_info.enabled:
        import torch.distributed as dist

        # Every rank has checked the folder before rank 0 writes anything into it.
        dist.barrier()
    dataset, val_ids = _datasets(config, data_dir)
    if len(dataset) < train_cfg.batch_size and train_cfg.drop_last:
        raise ConfigError(
            f"the training split has {len(dataset)} scenes with instances, fewer than "
            f"train.batch_size {train_cfg.batch_size}",
            hint="lower train.batch_size or set train.drop_last=false",
        )
    _configure_determinism(config, device)
    _launch_numba_threads()
    iterations_per_epoch = len(_epoch_batches(dataset, 0, per_rank, dist_info, config))
    total_iterations = iterations_per_epoch * train_cfg.epochs

    torch.manual_seed(train_cfg.seed)
    np.random.seed(train_cfg.seed)
    random.seed(train_cfg.seed)
    model = DKNet(config.model_config())
    if train_cfg.init_from and resume_from is None:
        _init_weights(model, init_source(train_cfg.init_from))
    model.to(device)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=train_cfg.lr, weight_decay=train_cfg.weight_decay
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, iterations_per_epoch, config)
    )
    use_amp = device.type == "cuda" and train_cfg.amp != "none"
    amp_dtype = torch.bfloat16 if train_cfg.amp == "bf16" else torch.float16
    scaler = torch.amp.GradScaler(
        device.type, enabled=device.type == "cuda" and train_cfg.amp == "fp16"
    )

    epoch, position, iteration = 0, 0, 0
    best = -math.inf
    if resume_from is not None:
        state = read_checkpoint(resume_from)
        if "training" not in state:
            raise CheckpointError(
                f"{resume_from}: holds no training state (a model-only checkpoint)",
                hint="start a new run with --overwrite",
            )
        _check_resumed_config(state.get("train_config", {}), config, resume_from)
        load_state(model, state["model"], source=str(resume_from))
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["grad_scaler"])
        progress = state["training"]
        epoch, position, iteration = progress["epoch"], progress["position"], progress["iteration"]
        best = float(progress.get("best_metric", -math.inf))
        ranks = state.get("rng_states", [])
        if progress.get("world_size", 1) != dist_info.world_size:
            logger.warning(
                "resuming with %d processes, the run used %d: the order of the rest of the "
                "epoch differs from an uninterrupted run",
                dist_info.world_size,
                progress.get("world_size", 1),
            )
        if ranks:
            _set_rng_state(ranks[dist_info.rank] if dist_info.rank < len(ranks) else ranks[0])
        logger.info(
            "resumed %s at epoch %d, batch %d, iteration %d",
            resume_from,
            epoch + 1,
            position,
            iteration,
        )

    net: torch.nn.Module = model
    if dist_info.enabled:
        from torch.nn.parallel import DistributedDataParallel

        from dknet.engine.sync_batchnorm import synchronise_batchnorms

        timeout = datetime.timedelta(minutes=config.train.dist_timeout_min)
        net = synchronise_batchnorms(model, device, timeout)
        net = DistributedDataParallel(
            net,
            device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=True,  # stage 1 and 2 leave heads unused
        )
    elif device.type == "cpu" and (threads := torch.get_num_threads()) > 1 and per_rank > 1:
        logger.info(
            "CPU with %d threads: one-thread processes run faster per iteration "
            "(`torchrun --nproc_per_node %d -m dknet.cli train ...`)",
            threads,
            math.gcd(threads, train_cfg.batch_size),
        )
    inner: Any = net.module if dist_info.enabled else net

    if is_main:
        out.mkdir(parents=True, exist_ok=True)
        (out / CHECKPOINT_DIR).mkdir(exist_ok=True)
        (out / CONFIG_NAME).write_text(config_to_yaml(config), encoding="utf-8")
    metrics = _MetricsWriter(
        out, enabled=is_main, after_iteration=iteration if resume_from is not None else None
    )

    def report(event: str, **kwargs: Any) -> None:
        if progress_callback is not None and is_main:
            progress_callback(
                TrainProgress(
                    event=event,
                    stage=config.stage(min(epoch, train_cfg.epochs - 1) + 1),
                    epoch=min(epoch, train_cfg.epochs - 1) + 1,
                    epochs=train_cfg.epochs,
                    iteration=iteration,
                    total_iterations=total_iterations,
                    lr=float(optimizer.param_groups[0]["lr"]),
                    **kwargs,
                )
            )

    def save(path: Path, *, stage: int) -> None:
        rng = _rng_state()
        ranks = [rng]
        if dist_info.enabled:
            import torch.distributed as dist

            gathered: list[Any] = [None] * dist_info.world_size
            dist.all_gather_object(gathered, rng)
            ranks = gathered
        if not is_main:
            return
        save_checkpoint(
            path,
            inner,
            extra={
                "train_config": config_to_dict(config),
                "training": {
                    "epoch": epoch,
                    "position": position,
                    "iteration": iteration,
                    "stage": stage,
                    "iterations_per_epoch": iterations_per_epoch,
                    "world_size": dist_info.world_size,
                    "best_metric": best,
                },
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "grad_scaler": scaler.state_dict(),
                "rng_states": ranks,
            },
        )

    last_path = out / CHECKPOINT_DIR / LAST_NAME
    best_path = out / CHECKPOINT_DIR / BEST_NAME
    last_losses: dict[str, float] = {}
    last_validation: dict[str, Any] | None = None
    steps_here = 0
    loop_start = time.perf_counter()
    interrupted = stopped_early = False
    stage = config.stage(min(epoch, train_cfg.epochs - 1) + 1)
    report("start")
    net.train()
    threads = torch.get_num_threads()
    with _stop_on_signals() as flag:
        while epoch < train_cfg.epochs:
            stage = config.stage(epoch + 1)
            if position == 0 and is_main:
                logger.info("epoch %d/%d: stage %d", epoch + 1, train_cfg.epochs, stage)
            dataset.set_epoch(epoch)
            batches = _epoch_batches(dataset, epoch, per_rank, dist_info, config)
            loader = DataLoader(
                dataset,
                batch_sampler=batches[position:],
                collate_fn=collate_scenes,
                num_workers=config.data.workers,
                worker_init_fn=worker_init_fn,
                generator=seeded_generator(train_cfg.seed, epoch),
            )
            stop = max_iterations is not None and iteration >= max_iterations
            for batch in loader if not stop else ():
                if torch.get_num_threads() != threads:  # see _launch_numba_threads
                    torch.set_num_threads(threads)
                batch = batch.to(device)
                autocast = (
                    torch.autocast(device_type="cuda", dtype=amp_dtype)
                    if use_amp
                    else nullcontext()
                )
                with autocast:
                    losses = net(batch, stage=stage)
                total = _weighted_total(losses, config)
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(total).backward()
                scaler.step(optimizer)
                scaler.update()
                scheduler.step()
                iteration += 1
                position += 1
                steps_here += 1
                last_losses = {k: float(v.detach()) for k, v in losses.items() if k != "total"}
                last_losses["total"] = float(total.detach())
                rate = steps_here / max(time.perf_counter() - loop_start, 1e-9)
                if iteration % train_cfg.log_every == 0 or position == len(batches):
                    metrics.write(
                        {
                            "kind": "train",
                            "iteration": iteration,
                            "epoch": epoch + 1,
                            "stage": stage,
                            "lr": float(optimizer.param_groups[0]["lr"]),
                            "seconds_per_iteration": 1.0 / rate,
                            **last_losses,
                        }
                    )
                report("iteration", loss=last_losses["total"], iterations_per_second=rate)
                reached = max_iterations is not None and iteration >= max_iterations
                if _any_rank(flag["stop"] or reached, dist_info, device):
                    stop = True
                    interrupted = flag["stop"]
                    stopped_early = not interrupted
                    break
            if stop:
                if not (interrupted or stopped_early):
                    stopped_early = True
                break
            epoch += 1
            position = 0
            done = epoch
            # Before stage 3 the kernels and decoder are untrained: nothing worth scoring.
            validate = bool(val_ids) and (
                done == train_cfg.epochs
                or (stage == 3 and train_cfg.val_every > 0 and done % train_cfg.val_every == 0)
            )
            improved = False
            if validate:
                if is_main:
                    result = _validate(inner, data_dir, config, device)
                    last_validation = _val_record(result)
                    score = last_validation[train_cfg.best_metric]
                    score = -math.inf if score is None else float(score)
                    improved = score > best
                    best = max(best, score)
                    metrics.write(
                        {
                            "kind": "val",
                            "iteration": iteration,
                            "epoch": done,
                            "stage": stage,
                            **last_validation,
                        }
                    )
                    logger.info(
                        "epoch %d: AP %s AP50 %s AP25 %s",
                        done,
                        last_validation["ap"],
                        last_validation["ap50"],
                        last_validation["ap25"],
                    )
                    report("validation", metrics=last_validation)
                if dist_info.enabled:
                    import torch.distributed as dist

                    dist.barrier()
                    net.train()
            save(last_path, stage=stage)
            if is_main:
                if improved:
                    shutil.copyfile(last_path, best_path)
                if train_cfg.keep_every and done % train_cfg.keep_every == 0:
                    shutil.copyfile(last_path, out / CHECKPOINT_DIR / f"epoch_{done:04d}.pth")
                report("checkpoint")
            if _any_rank(flag["stop"], dist_info, device):
                interrupted = True
                break
    if interrupted or stopped_early:
        save(last_path, stage=stage)
        if is_main:
            logger.warning(
                "stopped at epoch %d, iteration %d; checkpoint %s (continue with --resume)",
                epoch + 1,
                iteration,
                last_path,
            )
    metrics.close()
    report("end", loss=last_losses.get("total", math.nan))
    elapsed = time.perf_counter() - started
    loop_time = time.perf_counter() - loop_start
    return TrainSummary(
        output_dir=out,
        iteration=iteration,
        epochs_done=epoch + int(epoch < train_cfg.epochs and position >= iterations_per_epoch),
        stage=stage,
        interrupted=interrupted,
        stopped_early=stopped_early,
        last_checkpoint=last_path if is_main and last_path.is_file() else None,
        best_checkpoint=best_path if is_main and best_path.is_file() else None,
        best_metric=best if math.isfinite(best) else math.nan,
        last_validation=last_validation,
        last_losses=last_losses,
        seconds=elapsed,
        seconds_per_iteration=loop_time / steps_here if steps_here else math.nan,
    )
