"""`dknet doctor` reports versions, extension status, backends and a working spconv on CPU."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from dknet.cli import app

runner = CliRunner()


@pytest.mark.spconv
def test_doctor_reports_environment(tmp_path: Path) -> None:
    out = tmp_path / "env.json"
    result = runner.invoke(app, ["doctor", "--json", str(out)])
    assert result.exit_code == 0, result.output
    for text in ("dknet", "torch", "spconv", "numba", "extension dknet._ext", "op backends"):
        assert text in result.output
    report = json.loads(out.read_text())
    assert report["spconv"]["cpu_check"] == "ok"
    assert set(report["backends"]["cpu"]) == {
        "voxelize", "mine_candidates", "merge_candidates", "otsu_thresholds",
    }  # fmt: skip
    if not torch.cuda.is_available():
        assert report["gpus"] == []
        assert report["spconv"]["mode"] == "cpu"
        assert set(report["backends"]["cpu"].values()) == {"numba"}
    if not report["extension"]["available"]:
        assert report["extension"]["kind"] in {
            "not_built", "abi_mismatch", "cuda_mismatch", "no_cuda_runtime", "error",
        }  # fmt: skip
        assert report["extension"]["fix"]


def test_doctor_without_spconv_check_is_fast_and_succeeds() -> None:
    result = runner.invoke(app, ["doctor", "--skip-spconv-check"])
    assert result.exit_code == 0, result.output
    assert "skipped" in result.output


def test_version_flag() -> None:
    from dknet import __version__

    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert __version__ in result.output
