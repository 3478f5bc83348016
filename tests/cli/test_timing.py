"""`dknet timing` and dknet.engine.timing: stages, statistics, JSON, inputs, device errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from dknet.cli import app
from dknet.engine.timing import MODEL_STAGES, PAPER_TABLE_S3_MS, StageStats, time_inference

pytestmark = pytest.mark.spconv

runner = CliRunner()


@pytest.fixture(scope="module")
def predictor():  # type: ignore[no-untyped-def]
    from dknet.engine.predict import Predictor
    from dknet.models import DKNet, ModelConfig

    torch.manual_seed(0)
    return Predictor(DKNet(ModelConfig(width=8, levels=3)), "cpu")


def test_stage_statistics() -> None:
    stats = StageStats.of([0.001, 0.002, 0.003, 0.004, 0.010])
    assert stats.median == pytest.approx(3.0)
    assert stats.p10 == pytest.approx(1.4)
    assert stats.p90 == pytest.approx(7.6)
    assert stats.runs == 5


def test_synthetic_scan_is_timed_stage_by_stage(predictor) -> None:  # type: ignore[no-untyped-def]
    calls: list[tuple[int, int]] = []
    result = time_inference(
        predictor, points=4000, warmup=1, repeats=3, progress=lambda d, t: calls.append((d, t))
    )
    assert calls[-1] == (4, 4)
    assert set(result.stages) == {*MODEL_STAGES, "total"}
    for name in MODEL_STAGES:
        assert result.stages[name].runs == 3
        assert result.stages[name].median >= 0
    parts = sum(result.stages[name].mean for name in MODEL_STAGES)
    assert result.stages["total"].mean == pytest.approx(parts, rel=1e-6)
    assert result.scenes[0]["scene"] == "synthetic"
    assert result.scenes[0]["points"] == 4000
    assert result.backends["mine_candidates"] == "numba"
    assert result.backends["voxelize"] == "numba"
    assert result.peak_memory_mb > 0 and result.memory_kind == "peak process RSS"
    assert result.paper_ms == PAPER_TABLE_S3_MS
    data = result.to_dict()
    json.dumps(data)  # plain data
    assert data["versions"]["torch"] == str(torch.__version__)


def test_cli_times_a_ply_input_and_writes_json(tmp_path: Path) -> None:
    from dknet.io.ply import write_ply
    from dknet.testing import synthetic_scene

    pc = synthetic_scene(num_instances=3, points_per_instance=200, seed=0)
    scene = write_ply(tmp_path / "room.ply", pc.coords, colors=(pc.colors * 255).astype(np.uint8))
    out = tmp_path / "timing.json"
    result = runner.invoke(
        app,
        [
            "timing", str(scene), "--config", "cpu", "--device", "cpu",
            "--warmup", "0", "--repeats", "1", "--json", str(out),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "backbone" in result.output and "Table S3" not in result.output
    assert "357.5" in result.output  # the paper's total beside ours
    data = json.loads(out.read_text())
    assert {"read", "write", "total", *MODEL_STAGES} <= set(data["stages"])
    assert data["scenes"][0]["points"] == pc.coords.shape[0]
    assert data["device"] == "cpu"


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU message")
def test_cuda_without_a_gpu_fails_with_one_line() -> None:
    result = runner.invoke(app, ["timing", "--device", "cuda"])
    assert result.exit_code == 1
    assert "torch sees no CUDA GPU" in result.output
    assert "Traceback" not in result.output
