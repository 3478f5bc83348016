"""Shared fixtures: a small DKNet trained on synthetic spheres; a tiny ScanNet-layout dataset."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dknet.testing import synthetic_scene


def save_model(path: Path, model: object) -> Path:
    """Save with dknet's checkpoint header; the torch version stored as a plain string.

    ``save_checkpoint`` stores ``torch.__version__`` (a ``TorchVersion`` object) as is, which
    ``torch.load(weights_only=True)`` refuses; a plain string keeps the file loadable.
    """
    import torch

    from dknet.models.checkpoint import checkpoint_metadata

    payload = checkpoint_metadata(model.config)  # type: ignore[attr-defined]
    payload["torch_version"] = str(payload["torch_version"])
    payload["model"] = {k: v.detach().cpu() for k, v in model.state_dict().items()}  # type: ignore[attr-defined]
    torch.save(payload, path)
    return path


@pytest.fixture(scope="session")
def trained_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A width-8, 3-level DKNet trained for 22 steps through stages 1..3 (a few seconds)."""
    import torch

    from dknet.data.batch import PointBatch
    from dknet.models import DKNet, ModelConfig

    torch.manual_seed(0)
    cloud = synthetic_scene(num_instances=4, points_per_instance=300, seed=1)
    coords = cloud.coords - cloud.coords.mean(axis=0)
    batch = PointBatch.from_scene(
        coords,
        cloud.colors * 255,
        semantic_labels=cloud.semantic_labels,
        instance_labels=cloud.instance_labels,
    )
    model = DKNet(ModelConfig(width=8, levels=3))
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-2)
    # One thread: tiny tensors gain nothing from more, and OpenMP threads spinning on a busy
    # shared machine made these steps ten times slower.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for stage, steps in ((1, 6), (2, 4), (3, 12)):
            for _ in range(steps):
                loss = model(batch, stage=stage)["total"]
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
    finally:
        torch.set_num_threads(threads)
    return save_model(tmp_path_factory.mktemp("model") / "tiny.pth", model)


@pytest.fixture(scope="session")
def sphere_scene() -> tuple[np.ndarray, np.ndarray]:
    """The training scene's coordinates (N, 3) float32 and colours (N, 3) uint8."""
    cloud = synthetic_scene(num_instances=4, points_per_instance=300, seed=1)
    return cloud.coords, np.rint(cloud.colors * 255).astype(np.uint8)


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three small ScanNet-layout rooms (1 train, 1 val, 1 test) with split lists."""
    from typer.testing import CliRunner

    from dknet.cli import app

    root = tmp_path_factory.mktemp("synth") / "demo"
    args = ["synth", str(root), "--scenes", "3", "--seed", "0", "--vertex-spacing", "0.1"]
    result = CliRunner().invoke(app, [*args, "--preset", "clean"])
    assert result.exit_code == 0, result.output
    return root


@pytest.fixture(scope="session")
def preprocessed(synth_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``dknet preprocess scannet`` output of :func:`synth_root`."""
    from dknet.data.preprocess import preprocess_dataset

    out = tmp_path_factory.mktemp("data") / "data"
    summary = preprocess_dataset("scannet", synth_root, out, workers=1)
    assert summary.ok
    return out
