"""`dknet evaluate` through Typer's CliRunner: output, files, exit codes, arguments passed."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from dknet.cli import app
from dknet.evaluation import build_eval_result, evaluate_instances
from dknet.io.ids_txt import write_ids_txt
from dknet.io.submission import write_submission
from dknet.structures.instances import Instances

runner = CliRunner()
N = 400


@pytest.fixture()
def folders(tmp_path: Path) -> tuple[Path, Path, float]:
    gt = np.zeros(N, dtype=np.int64)
    gt[:200] = 5001
    gt[200:350] = 7002
    masks = np.zeros((2, N), dtype=bool)
    masks[0, :200] = True
    masks[1, 200:300] = True  # IoU 2/3 with the table
    preds = {"scene0001_00": Instances(masks, np.array([5, 7]), np.array([0.9, 0.4], np.float32))}
    write_ids_txt(tmp_path / "gt" / "scene0001_00.txt", gt)
    pred_dir = write_submission(tmp_path / "pred", preds)
    expected = evaluate_instances(preds, {"scene0001_00": gt}).ap
    return pred_dir, tmp_path / "gt", expected


def test_table_json_and_csv(tmp_path: Path, folders: tuple[Path, Path, float]) -> None:
    pred_dir, gt_dir, expected_ap = folders
    out_json, out_csv = tmp_path / "r.json", tmp_path / "r.csv"
    result = runner.invoke(
        app,
        [
            "evaluate",
            "--predictions",
            str(pred_dir),
            "--ground-truth",
            str(gt_dir),
            "--json",
            str(out_json),
            "--csv",
            str(out_csv),
            "-j",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    chair = next(line for line in lines if "chair" in line)
    table = next(line for line in lines if "table" in line and "│" in line)
    average = next(line for line in lines if "average" in line)
    # Fractions with three decimals: chair perfect; table matched up to 0.65 -> 4/9 = 0.444.
    assert "1.000" in chair and chair.count("1.000") == 3
    assert "0.444" in table and table.count("1.000") == 2
    assert f"{expected_ap:.3f}" in average
    assert "nan" in next(line for line in lines if "sofa" in line)
    data = json.loads(out_json.read_text())
    assert data["ap"] == pytest.approx(expected_ap) and data["num_scenes"] == 1
    assert data["classes"][2]["class"] == "chair" and data["classes"][3]["ap"] is None
    rows = list(csv.reader(out_csv.open()))
    assert rows[0] == ["class", "class_id", "ap", "ap50", "ap25"]
    assert rows[-1][0] == "average" and float(rows[-1][2]) == pytest.approx(expected_ap)
    assert len(rows) == 1 + 18 + 1


def test_arguments_passed_to_the_library(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import dknet.evaluation

    calls = []

    def fake(pred_dir, gt_dir, **kwargs):  # type: ignore[no-untyped-def]
        calls.append((pred_dir, gt_dir, kwargs))
        kwargs["progress"](1, 1)
        return build_eval_result(np.full((18, 10), 0.5), ["s"])

    monkeypatch.setattr(dknet.evaluation, "evaluate_prediction_folder", fake)
    for name in ("p", "g", "sem"):
        (tmp_path / name).mkdir()
    result = runner.invoke(
        app,
        [
            "evaluate",
            "--predictions",
            str(tmp_path / "p"),
            "--ground-truth",
            str(tmp_path / "g"),
            "--workers",
            "3",
            "--require-all",
            "--semantic-predictions",
            str(tmp_path / "sem"),
        ],
    )
    assert result.exit_code == 0, result.output
    [(pred_dir, gt_dir, kwargs)] = calls
    assert (pred_dir, gt_dir) == (tmp_path / "p", tmp_path / "g")
    assert kwargs["workers"] == 3 and kwargs["require_all"] is True
    assert kwargs["semantic_dir"] == tmp_path / "sem" and callable(kwargs["progress"])
    assert "0.500" in next(line for line in result.output.splitlines() if "average" in line)


def test_domain_errors_exit_1(tmp_path: Path, folders: tuple[Path, Path, float]) -> None:
    pred_dir, gt_dir, _ = folders
    (pred_dir / "scene0002_00.txt").write_text("")
    result = runner.invoke(
        app, ["evaluate", "--predictions", str(pred_dir), "--ground-truth", str(gt_dir)]
    )
    assert result.exit_code == 1
    assert "scene0002_00.txt: no ground-truth file" in result.output.replace("\n", "")
    (pred_dir / "scene0002_00.txt").unlink()
    write_ids_txt(gt_dir / "scene0003_00.txt", np.zeros(N, dtype=np.int64))
    ok = runner.invoke(
        app, ["evaluate", "--predictions", str(pred_dir), "--ground-truth", str(gt_dir)]
    )
    assert ok.exit_code == 0, ok.output
    strict = runner.invoke(
        app,
        [
            "evaluate",
            "--predictions",
            str(pred_dir),
            "--ground-truth",
            str(gt_dir),
            "--require-all",
        ],
    )
    assert strict.exit_code == 1 and "scene0003_00" in strict.output
    missing = runner.invoke(
        app, ["evaluate", "--predictions", str(tmp_path / "nope"), "--ground-truth", str(gt_dir)]
    )
    assert missing.exit_code == 1 and "not a folder" in missing.output


def test_usage_errors_exit_2(folders: tuple[Path, Path, float]) -> None:
    pred_dir, gt_dir, _ = folders
    assert runner.invoke(app, ["evaluate", "--predictions", str(pred_dir)]).exit_code == 2
    # Mixing the checkpoint mode with the folder mode is a usage error.
    for option in ("--split", "--checkpoint", "--data"):
        result = runner.invoke(
            app,
            [
                "evaluate",
                "--predictions",
                str(pred_dir),
                "--ground-truth",
                str(gt_dir),
                option,
                "x",
            ],
        )
        assert result.exit_code == 2


def _semantic_rows(output: str) -> dict[str, list[str]]:
    """Class name -> its cells, from the semantic table of ``dknet evaluate``'s output."""
    rows: dict[str, list[str]] = {}
    for line in output.split("Semantic segmentation", 1)[1].splitlines():
        cells = [cell.strip() for cell in line.split("│")[1:-1]]
        if len(cells) == 2:
            rows[cells[0]] = cells[1:]
    return rows


def test_semantic_iou_as_the_benchmark_scores_it(tmp_path: Path) -> None:
    # nyu40 ids: 1 wall, 5 chair, 6 sofa, 7 table, 14 desk; 22 ceiling and 40 otherprop are not
    # benchmark classes, 0 is unannotated.
    gt = {
        "scene0001_00": np.array([1, 1, 1, 5, 5, 0, 0, 22, 22]),
        "scene0002_00": np.array([5, 5, 7, 7, 0]),
    }
    sem = {
        "scene0001_00": np.array([1, 1, 14, 5, 40, 14, 6, 7, 0]),
        "scene0002_00": np.array([5, 7, 7, 14, 7]),
    }
    for scene, labels in gt.items():
        write_ids_txt(tmp_path / "gt" / f"{scene}.txt", labels * 1000 + 1)
        write_ids_txt(tmp_path / "sem" / f"{scene}.txt", sem[scene])
    pred_dir = write_submission(
        tmp_path / "pred", {scene: Instances.empty(len(labels)) for scene, labels in gt.items()}
    )
    out_json, out_csv = tmp_path / "r.json", tmp_path / "r.csv"
    result = runner.invoke(
        app,
        [
            "evaluate",
            "--predictions",
            str(pred_dir),
            "--ground-truth",
            str(tmp_path / "gt"),
            "--semantic-predictions",
            str(tmp_path / "sem"),
            "--json",
            str(out_json),
            "--csv",
            str(out_csv),
            "-j",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    # Pooled over the two scenes: wall 2/3, chair 2/4, table 1/3 (its predictions on unannotated
    # and ceiling vertices ignored), desk predicted but absent from the ground truth 0 (in the
    # mean), sofa predicted only on an ignored vertex NaN, like every class absent from both.
    expected = {"wall": 2 / 3, "chair": 1 / 2, "table": 1 / 3, "desk": 0.0}
    miou = sum(expected.values()) / len(expected)
    rows = _semantic_rows(result.output)
    for name, iou in expected.items():
        assert rows[name] == [f"{iou:.3f}"], name
    assert rows["sofa"] == ["nan"] and rows["floor"] == ["nan"]
    assert rows["mIoU"] == [f"{miou:.3f}"] and rows["accuracy"] == [f"{5 / 9:.3f}"]

    data = json.loads(out_json.read_text())["semantic"]
    ious = {c["class"]: c["iou"] for c in data["classes"]}
    assert {name: ious[name] for name in expected} == pytest.approx(expected)
    assert all(ious[name] is None for name in ious if name not in expected)
    assert data["miou"] == pytest.approx(miou) and data["num_scenes"] == 2

    table = {row[0]: row for row in csv.reader(out_csv.open())}
    assert table["class"][-1] == "iou"
    assert {name: float(table[name][-1]) for name in expected} == pytest.approx(expected)
    assert table["sofa"][-1] == "nan" and table["floor"][-1] == "nan"
    assert float(table["average"][-1]) == pytest.approx(miou)
