"""Checkpoint loading: the authors' checkpoint.pth as released, and dknet's own files."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from dknet.data.batch import PointBatch
from dknet.errors import CheckpointError
from dknet.models import DKNet, ModelConfig, load_checkpoint, save_checkpoint
from dknet.models.checkpoint import infer_config

pytestmark = pytest.mark.spconv


def _random_state(model: DKNet, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random weights and BatchNorm statistics (so every tensor matters in the comparison)."""
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for key, value in model.state_dict().items():
        if not value.is_floating_point():
            state[key] = value.clone()
        elif key.endswith("running_var"):
            state[key] = torch.rand(value.shape, generator=gen) + 0.5
        else:
            state[key] = torch.randn(value.shape, generator=gen) * 0.1
    return state


def _outputs(model: DKNet, batch: PointBatch) -> dict[str, torch.Tensor]:
    model.eval()
    with torch.no_grad():
        state = model.run(batch)
    return {
        "features": state.point_features,
        "semantic": state.semantic_logits,
        "offsets": state.offsets,
        "heat": state.heat_logits,
        "mask": state.mask_features,
        "kernel": state.kernel_features,
    }


def _authors_file(path: Path, state: dict[str, torch.Tensor], *, prefix: bool, old: bool) -> None:
    """Write ``state`` the way the authors' train.py saved it."""
    tensors = {}
    for key, value in state.items():
        if old and value.dim() == 5:  # spconv 2.0/2.1 Native layout [kx, ky, kz, out, in]
            value = value.permute(1, 2, 3, 0, 4).contiguous()
        tensors[("module." if prefix else "") + key] = value
    moments = {
        i: {"step": torch.tensor(3.0), "exp_avg": torch.zeros(2), "exp_avg_sq": torch.zeros(2)}
        for i in range(3)
    }
    optimizer = {
        "state": moments,
        "param_groups": [{"lr": 1e-3, "weight_decay": 1e-4, "amsgrad": False, "params": [0, 1, 2]}],
    }
    torch.save({"model": tensors, "optimizer": optimizer}, path)


@pytest.mark.parametrize(
    ("prefix", "old"), [(False, False), (True, False), (False, True), (True, True)]
)
def test_authors_checkpoint_loads_unchanged_and_gives_the_same_outputs(
    tmp_path: Path, tiny_batch: PointBatch, prefix: bool, old: bool
) -> None:
    reference = DKNet(ModelConfig.paper())
    state = _random_state(reference)
    reference.load_state_dict(state, strict=True)
    path = tmp_path / "checkpoint.pth"
    _authors_file(path, state, prefix=prefix, old=old)
    loaded = load_checkpoint(path)
    assert loaded.config == ModelConfig.paper()
    for key, value in loaded.state_dict().items():
        assert torch.equal(value, state[key]), key
    expected, actual = _outputs(reference, tiny_batch), _outputs(loaded, tiny_batch)
    for name in expected:
        assert torch.equal(expected[name], actual[name]), name


def test_configuration_is_read_off_the_shapes() -> None:
    config = ModelConfig(width=16, levels=5, decoder_shape=(8, 1))
    state = DKNet(config).state_dict()
    assert infer_config(state) == config


def test_a_file_without_the_unused_modules_loads(tmp_path: Path) -> None:
    config = ModelConfig(width=8, levels=2)
    state = {
        k: v
        for k, v in DKNet(config).state_dict().items()
        if not k.startswith(("recall_linear", "semantic_branch"))
    }
    torch.save({"model": state}, tmp_path / "c.pth")
    assert load_checkpoint(tmp_path / "c.pth").config == config


def test_dknet_checkpoint_round_trip_including_half_precision(tmp_path: Path) -> None:
    config = ModelConfig(width=8, levels=2)
    model = DKNet(config)
    model.load_state_dict(_random_state(model))
    save_checkpoint(tmp_path / "full.pth", model, extra={"epoch": 3})
    save_checkpoint(tmp_path / "half.pth", model, half=True)
    full = load_checkpoint(tmp_path / "full.pth")
    half = load_checkpoint(tmp_path / "half.pth")
    for key, value in model.state_dict().items():
        assert torch.equal(full.state_dict()[key], value)
        assert half.state_dict()[key].dtype == value.dtype
        torch.testing.assert_close(half.state_dict()[key], value, atol=1e-3, rtol=1e-3)
    assert torch.load(tmp_path / "full.pth", weights_only=True)["epoch"] == 3
    assert not list(tmp_path.glob("*.tmp"))
    # A path ending in .xz is written xz-compressed and read back transparently.
    save_checkpoint(tmp_path / "half.pth.xz", model, half=True)
    packed = (tmp_path / "half.pth.xz").read_bytes()
    assert packed.startswith(b"\xfd7zXZ\x00")
    assert len(packed) < (tmp_path / "half.pth").stat().st_size
    unpacked = load_checkpoint(tmp_path / "half.pth.xz")
    for key, value in half.state_dict().items():
        assert torch.equal(unpacked.state_dict()[key], value)
    (tmp_path / "cut.pth.xz").write_bytes(packed[: len(packed) // 2])
    with pytest.raises(CheckpointError, match=r"cut\.pth\.xz: a damaged xz-compressed checkpoint"):
        load_checkpoint(tmp_path / "cut.pth.xz")


def test_mismatching_weights_name_the_first_problems(tmp_path: Path) -> None:
    state = DKNet(ModelConfig(width=8, levels=2)).state_dict()
    state["linear.6.weight"] = torch.zeros(5, 8)
    state["bogus.weight"] = torch.zeros(1)
    del state["offset_linear.bias"]
    save_path = tmp_path / "bad.pth"
    torch.save(
        {"model": state, "format": "dknet-checkpoint", "model_config": {"width": 8, "levels": 2}},
        save_path,
    )
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(save_path)
    message = str(info.value)
    assert "missing offset_linear.bias" in message
    assert "unexpected bogus.weight" in message
    assert "shape linear.6.weight (5, 8) (model (20, 8))" in message


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"", "not a readable PyTorch checkpoint"),
        (b"not a zip at all", "not a readable PyTorch checkpoint"),
    ],
)
def test_unreadable_files_fail_with_one_line(tmp_path: Path, content: bytes, match: str) -> None:
    path = tmp_path / "broken.pth"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=match):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="no such checkpoint file"):
        load_checkpoint(tmp_path / "missing.pth")


def test_pickled_objects_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "evil.pth"
    torch.save({"model": {"x": torch.zeros(1)}, "obj": Path("/")}, path)
    with pytest.raises(CheckpointError, match="does not unpickle arbitrary objects"):
        load_checkpoint(path)
