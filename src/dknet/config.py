"""Typed training configuration: ``DKNetConfig`` (model, data, train), read from YAML.

The YAML file and the dotted ``KEY=VALUE`` overrides of the command line are merged onto the
dataclasses below by OmegaConf's structured configs, which check every value against its type::

    from dknet.config import load_config
    config = load_config("configs/scannet.yaml", ["train.lr=5e-4", "model.width=16"])

A key that does not exist is an error naming the closest valid key; a value of the wrong type is
an error naming the key, the value and the expected type. Both raise
:class:`~dknet.errors.ConfigError`.

The ``model`` section mirrors :class:`dknet.models.ModelConfig` field for field (its defaults
are ModelConfig's, read off the dataclass, so there is one source of truth), and
``data.augmentation`` mirrors :class:`dknet.data.TrainAugmentation` the same way (its voxel size
is the model's). Epochs are counted from 1 in the config, as in the paper.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dknet.errors import ConfigError

__all__ = [
    "AMP_MODES",
    "DKNetConfig",
    "DataConfig",
    "LossWeights",
    "TrainConfig",
    "config_from_dict",
    "config_keys",
    "config_to_dict",
    "config_to_yaml",
    "load_config",
]

#: Mixed-precision modes (used on CUDA only; CPU always trains in float32).
AMP_MODES: tuple[str, ...] = ("bf16", "fp16", "none")


def _yaml_type(tp: Any) -> Any:
    """The OmegaConf-compatible type of a field: tuples become lists, recursively."""
    origin = typing.get_origin(tp)
    if origin is tuple:
        items = [a for a in typing.get_args(tp) if a is not Ellipsis]
        return list[_yaml_type(items[0])] if items else list[Any]  # type: ignore[misc]
    if origin in (typing.Union, types.UnionType):
        converted = [_yaml_type(a) for a in typing.get_args(tp)]
        result = converted[0]
        for item in converted[1:]:
            result = result | item
        return result
    return tp


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def _mirror(source: type, name: str, *, exclude: tuple[str, ...] = (), doc: str) -> type:
    """A mutable dataclass with ``source``'s fields and defaults, tuples as lists."""
    hints = typing.get_type_hints(source)
    fields: list[tuple[str, Any, Any]] = []
    for f in dataclasses.fields(source):
        if f.name in exclude:
            continue
        default = f.default
        spec: Any = (
            field(default_factory=functools.partial(_plain, default))
            if isinstance(default, (tuple, list))
            else field(default=default)
        )
        fields.append((f.name, _yaml_type(hints[f.name]), spec))
    cls = dataclasses.make_dataclass(name, fields, namespace={"__doc__": doc})
    cls.__module__ = __name__
    return cls


def _model_section() -> type:
    from dknet.models.config import ModelConfig

    return _mirror(
        ModelConfig,
        "ModelSection",
        doc="The ``model`` section: :class:`dknet.models.ModelConfig`'s fields and defaults.",
    )


def _augmentation_section() -> type:
    from dknet.data.transforms import TrainAugmentation

    return _mirror(
        TrainAugmentation,
        "AugmentationSection",
        exclude=("voxel_size",),
        doc="``data.augmentation``: :class:`dknet.data.TrainAugmentation`'s fields (voxel "
        "size: the model's).",
    )


# Built at import from the dataclasses they mirror, so static checkers see them as Any.
ModelSection: Any = _model_section()
AugmentationSection: Any = _augmentation_section()


@dataclass
class DataConfig:
    """Where the scenes come from (the ``--data`` folder is given on the command line).

    Attributes:
        train_split: split whose list (``scannetv2_<split>.txt``) names the training scenes.
        val_split: split validated on; null (or empty): no validation.
        train_split_file: an explicit training list instead of the one found beside the data.
        val_split_file: an explicit validation list.
        workers: ``DataLoader`` worker processes per training process (0: load in-process).
        augmentation: the training augmentation (paper defaults).
    """

    train_split: str = "train"
    val_split: str | None = "val"
    train_split_file: str | None = None
    val_split_file: str | None = None
    workers: int = 4
    augmentation: AugmentationSection = field(default_factory=AugmentationSection)


@dataclass
class LossWeights:
    """The weight of each named loss in the total (ALGORITHM.md section 9: all 1)."""

    semantic: float = 1.0
    offset: float = 1.0
    heat: float = 1.0
    merge: float = 1.0
    mask: float = 1.0


@dataclass
class TrainConfig:
    """Optimisation, schedule and bookkeeping (defaults: the paper, ALGORITHM.md section 10).

    Attributes:
        epochs: epochs in all (400).
        stage2_epoch: first epoch of stage 2 (+ heatmap and merge losses; 81).
        stage3_epoch: first epoch of stage 3 (+ decoding and the mask loss; 97).
        batch_size: scenes per optimiser step, over all processes (4).
        lr: AdamW learning rate (1e-3), constant for ``constant_lr_epochs`` epochs.
        weight_decay: AdamW weight decay (1e-4).
        constant_lr_epochs: epochs at ``lr`` (200); then cosine per iteration down to
            ``min_lr`` at the end of the last epoch.
        min_lr: the final learning rate (1e-6).
        loss_weights: weight of each loss in the total.
        best_metric: the validation score that picks ``best.pth``: ``ap``, ``ap50``, ``ap25``.
        val_every: validate every this many epochs once stage 3 runs, and after the last
            epoch (0: only after the last).
        keep_every: also keep the checkpoint of every this many epochs (0: none).
        log_every: write training losses to the metrics file every this many iterations.
        amp: mixed precision on CUDA: ``bf16``, ``fp16`` (with a grad scaler) or ``none``.
        seed: seeds the weights, shuffling and augmentation.
        init_from: start from the model weights of this file (a dknet checkpoint or the
            authors' ``checkpoint.pth``, or ``default`` for the bundled default model; weights
            only: the optimizer, schedule and epoch start afresh), for fine-tuning; they must
            fit ``model`` exactly. Null: random weights.
        deterministic: deterministic algorithms (``torch.use_deterministic_algorithms``).
        drop_last: drop the last incomplete batch of an epoch.
        dist_timeout_min: minutes a process waits for the others (validation runs on rank 0
            while the others wait).
    """

    epochs: int = 400
    stage2_epoch: int = 81
    stage3_epoch: int = 97
    batch_size: int = 4
    lr: float = 1e-3
    weight_decay: float = 1e-4
    constant_lr_epochs: int = 200
    min_lr: float = 1e-6
    loss_weights: LossWeights = field(default_factory=LossWeights)
    best_metric: str = "ap"
    val_every: int = 16
    keep_every: int = 50
    log_every: int = 20
    amp: str = "bf16"
    seed: int = 0
    init_from: str | None = None
    deterministic: bool = False
    drop_last: bool = True
    dist_timeout_min: int = 60


@dataclass
class DKNetConfig:
    """The root of a training config: ``model``, ``data`` and ``train`` sections."""

    model: ModelSection = field(default_factory=ModelSection)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def model_config(self) -> Any:
        """The :class:`dknet.models.ModelConfig` of the ``model`` section."""
        from dknet.models.config import ModelConfig

        return ModelConfig.from_dict(dataclasses.asdict(self.model))

    def augmentation(self) -> Any:
        """The :class:`dknet.data.TrainAugmentation` of ``data.augmentation``."""
        from dknet.data.transforms import TrainAugmentation

        values = dataclasses.asdict(self.data.augmentation)
        values["elastic"] = tuple(tuple(pair) for pair in values["elastic"])
        return TrainAugmentation(voxel_size=self.model.voxel_size, **values)

    def stage(self, epoch: int) -> int:
        """The training stage (1, 2 or 3) of ``epoch`` (counted from 1)."""
        if epoch >= self.train.stage3_epoch:
            return 3
        if epoch >= self.train.stage2_epoch:
            return 2
        return 1


def config_keys(node: Any = DKNetConfig, prefix: str = "") -> list[str]:
    """Every valid dotted key of a config dataclass (sections and leaves)."""
    keys: list[str] = []
    hints = typing.get_type_hints(node)
    for f in dataclasses.fields(node):
        key = f"{prefix}{f.name}"
        keys.append(key)
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            keys += config_keys(tp, f"{key}.")
    return keys


def _closest(key: str) -> str:
    keys = config_keys()
    match = difflib.get_close_matches(key, keys, n=1, cutoff=0.5)
    if not match:  # a misspelt leaf under a right section: compare the last parts
        leaf = key.rsplit(".", 1)[-1]
        leaves = {k.rsplit(".", 1)[-1]: k for k in keys}
        near = difflib.get_close_matches(leaf, list(leaves), n=1, cutoff=0.5)
        match = [leaves[near[0]]] if near else []
    return f"; did you mean {match[0]!r}?" if match else ""


def _validate(config: DKNetConfig, source: str) -> DKNetConfig:
    train = config.train
    checks = [
        (train.epochs >= 1, f"train.epochs must be >= 1, got {train.epochs}"),
        (
            1 <= train.stage2_epoch <= train.stage3_epoch,
            "train.stage2_epoch must be >= 1 and <= train.stage3_epoch, got "
            f"{train.stage2_epoch} and {train.stage3_epoch}",
        ),
        (train.batch_size >= 1, f"train.batch_size must be >= 1, got {train.batch_size}"),
        (train.lr > 0, f"train.lr must be > 0, got {train.lr}"),
        (train.weight_decay >= 0, f"train.weight_decay must be >= 0, got {train.weight_decay}"),
        (0 < train.min_lr <= train.lr, f"train.min_lr must be in (0, lr], got {train.min_lr}"),
        (train.constant_lr_epochs >= 0, "train.constant_lr_epochs must be >= 0"),
        (train.val_every >= 0 and train.keep_every >= 0, "val_every/keep_every must be >= 0"),
        (train.log_every >= 1, f"train.log_every must be >= 1, got {train.log_every}"),
        (train.amp in AMP_MODES, f"train.amp must be one of {AMP_MODES}, got {train.amp!r}"),
        (
            train.best_metric in ("ap", "ap50", "ap25"),
            f"train.best_metric must be ap, ap50 or ap25, got {train.best_metric!r}",
        ),
        (train.seed >= 0, f"train.seed must be >= 0, got {train.seed}"),
        (train.dist_timeout_min >= 1, "train.dist_timeout_min must be >= 1"),
        (config.data.workers >= 0, f"data.workers must be >= 0, got {config.data.workers}"),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(f"{source}: {message}")
    try:
        config.model_config()
        config.augmentation()
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}", hint=exc.hint) from None
    return config


#: The top-level key naming a config file this one starts from (its path relative to this one).
BASE_KEY = "base"


def _file_layers(file: Path, chain: tuple[Path, ...]) -> list[tuple[str, Any]]:
    """The YAML layers of ``file``: its ``base`` chain first, then the file itself."""
    from omegaconf import DictConfig, OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    if not file.is_file():
        where = f" (the base of {chain[-1]})" if chain else ""
        raise ConfigError(f"{file}: config file not found{where}", hint="see configs/*.yaml")
    if file.resolve() in chain:
        raise ConfigError(f"{file}: config files name each other as base (a cycle)")
    try:
        loaded = OmegaConf.load(file)
    except (OSError, ValueError, OmegaConfBaseException) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"{file}: not a readable YAML config ({first})") from None
    if loaded is None:
        return []
    if not isinstance(loaded, DictConfig):
        raise ConfigError(f"{file}: expected a mapping of sections, found a list")
    layers: list[tuple[str, Any]] = []
    if BASE_KEY in loaded:
        parent = loaded.pop(BASE_KEY)
        if not isinstance(parent, str) or not parent:
            raise ConfigError(f"{file}: {BASE_KEY!r} must be a file name, got {parent!r}")
        layers = _file_layers(file.parent / parent, (*chain, file.resolve()))
    layers.append((str(file), loaded))
    return layers


def load_config(
    path: str | os.PathLike[str] | None = None, overrides: typing.Sequence[str] = ()
) -> DKNetConfig:
    """Read a YAML config onto :class:`DKNetConfig` and apply ``KEY=VALUE`` overrides.

    A file may start from another one: a top-level ``base: other.yaml`` (relative to the file)
    applies ``other.yaml`` first, then this file's values on top of it.

    Args:
        path: a YAML file (None: the defaults, i.e. the paper's configuration).
        overrides: dotted ``KEY=VALUE`` strings, applied in order after the file; values are
            parsed as YAML (``train.lr=1e-4``, ``model.decoder_shape=[16,1]``).

    Returns:
        The validated config.

    Raises:
        ConfigError: unreadable or missing file (or base), a cycle of bases, unknown key
            (naming the closest valid one), a value of the wrong type, an override without
            ``=``, or an out-of-range value.
    """
    from omegaconf import OmegaConf
    from omegaconf.errors import ConfigKeyError, OmegaConfBaseException, ValidationError

    base = OmegaConf.structured(DKNetConfig)
    layers: list[tuple[str, Any]] = []
    source = "config"
    if path is not None:
        source = str(Path(path))
        layers.extend(_file_layers(Path(path), ()))
    bad = [o for o in overrides if "=" not in o or o.startswith("=")]
    if bad:
        raise ConfigError(f"override {bad[0]!r} is not KEY=VALUE (e.g. train.lr=5e-4)")
    if overrides:
        layers.append(("override", OmegaConf.from_dotlist(list(overrides))))
    merged = base
    for where, layer in layers:
        try:
            merged = OmegaConf.merge(merged, layer)
        except ConfigKeyError as exc:
            key = str(exc.full_key or exc.key)
            raise ConfigError(f"{where}: unknown config key {key!r}{_closest(key)}") from None
        except ValidationError as exc:
            key = exc.full_key or exc.key
            message = str(exc).strip().splitlines()[0]
            raise ConfigError(f"{where}: wrong type for {key!r}: {message}") from None
        except OmegaConfBaseException as exc:
            message = str(exc).strip().splitlines()[0]
            raise ConfigError(f"{where}: invalid config ({message})") from None
    config = OmegaConf.to_object(merged)
    assert isinstance(config, DKNetConfig)
    return _validate(config, source)


def config_to_dict(config: DKNetConfig) -> dict[str, Any]:
    """Plain data (dicts, lists, numbers, strings) for checkpoints and JSON."""
    return dataclasses.asdict(config)


def config_from_dict(data: typing.Mapping[str, Any]) -> DKNetConfig:
    """The inverse of :func:`config_to_dict` (validated like a file).

    Raises:
        ConfigError: as :func:`load_config`.
    """
    from omegaconf import OmegaConf

    return _load_layer(OmegaConf.create(dict(data)))


def _load_layer(layer: Any) -> DKNetConfig:
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    try:
        merged = OmegaConf.merge(OmegaConf.structured(DKNetConfig), layer)
    except OmegaConfBaseException as exc:
        raise ConfigError(f"stored config: {str(exc).strip().splitlines()[0]}") from None
    config = OmegaConf.to_object(merged)
    assert isinstance(config, DKNetConfig)
    return _validate(config, "stored config")


def config_to_yaml(config: DKNetConfig) -> str:
    """The resolved config as YAML text (what ``output_dir/config.yaml`` holds)."""
    from omegaconf import OmegaConf

    return OmegaConf.to_yaml(OmegaConf.structured(config))
