"""Benchmark submission: writer, checker (every malformed kind), zip layout."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest

from dknet.errors import DatasetLayoutError, SubmissionError
from dknet.evaluation import evaluate_instances, evaluate_prediction_folder
from dknet.io.ids_txt import write_ids_txt
from dknet.io.submission import (
    check_submission,
    ground_truth_vertex_counts,
    preprocessed_vertex_counts,
    write_submission,
    zip_submission,
)
from dknet.structures.instances import Instances

SCENES = ("scene0707_00", "scene0708_00", "scene0709_00")
N = {"scene0707_00": 400, "scene0708_00": 500, "scene0709_00": 300}


def make_scene(seed: int, n: int) -> tuple[np.ndarray, Instances]:
    rng = np.random.default_rng(seed)
    gt = np.zeros(n, dtype=np.int64)
    gt[: n // 2] = 5001
    gt[n // 2 : n - 50] = 7002
    masks = np.zeros((4, n), dtype=bool)
    masks[0, : n // 2] = True
    masks[1, n // 2 - 20 : n - 60] = True
    masks[2] = rng.random(n) < 0.5
    masks[3, :120] = True
    labels = np.array([5, 7, 5, 39])
    scores = np.array([0.9, 0.123456789, 1.0, 0.0], dtype=np.float32)
    return gt, Instances(masks, labels, scores)


@pytest.fixture()
def data(tmp_path: Path) -> tuple[dict[str, np.ndarray], dict[str, Instances], Path]:
    gts, preds = {}, {}
    for i, scene in enumerate(SCENES):
        gts[scene], preds[scene] = make_scene(i, N[scene])
        write_ids_txt(tmp_path / "gt" / f"{scene}.txt", gts[scene])
    return gts, preds, tmp_path / "gt"


@pytest.fixture()
def submission(tmp_path: Path, data: tuple) -> Path:
    return write_submission(tmp_path / "sub", data[1])


# ---------------------------------------------------------------------------------------------
# writer


def test_writer_layout_passes_check_and_scores_like_memory(tmp_path: Path, data: tuple) -> None:
    gts, preds, gt_dir = data
    out = write_submission(tmp_path / "sub", preds, num_vertices=N)
    assert sorted(p.name for p in out.iterdir()) == [
        "predicted_masks",
        *(f"{s}.txt" for s in SCENES),
    ]
    first = (out / "scene0707_00.txt").read_text().splitlines()
    assert first[0] == "predicted_masks/scene0707_00_000.txt 5 0.9"
    assert first[1].split(" ")[2] == "0.12345679"  # float32 shortest repr
    assert (out / "predicted_masks" / "scene0707_00_000.txt").read_text().splitlines()[:2] == [
        "1",
        "1",
    ]
    report = check_submission(out, num_vertices=ground_truth_vertex_counts(gt_dir))
    assert report.ok, report.problems
    assert report.scenes == SCENES and report.num_instances == 12
    folder = evaluate_prediction_folder(out, gt_dir, workers=1)
    memory = evaluate_instances(preds, gts)
    np.testing.assert_array_equal(folder.ap_per_overlap, memory.ap_per_overlap)
    assert (folder.ap, folder.ap50, folder.ap25) == (memory.ap, memory.ap50, memory.ap25)
    assert not np.isnan(memory.ap)


def test_writer_never_mixes_with_an_existing_folder(tmp_path: Path, data: tuple) -> None:
    preds = data[1]
    out = write_submission(tmp_path / "sub", preds)
    (out / "stale.txt").write_text("old\n")
    with pytest.raises(SubmissionError, match="already exists"):
        write_submission(out, {"scene0707_00": preds["scene0707_00"]})
    assert (out / "stale.txt").exists() and (out / "scene0709_00.txt").exists()
    write_submission(out, {"scene0707_00": preds["scene0707_00"]}, overwrite=True)
    assert sorted(p.name for p in out.iterdir()) == ["predicted_masks", "scene0707_00.txt"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp folders left
    empty = tmp_path / "empty"
    empty.mkdir()
    write_submission(empty, {"scene0707_00": preds["scene0707_00"]})
    assert (empty / "scene0707_00.txt").exists()


def test_writer_failure_leaves_nothing(
    tmp_path: Path, data: tuple, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dknet.io import submission

    def broken(values: np.ndarray) -> bytes:
        raise OSError("disk full")

    monkeypatch.setattr(submission, "format_ids", broken)
    with pytest.raises(OSError, match="disk full"):
        write_submission(tmp_path / "sub", data[1])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gt"]


def test_writer_validates_inputs(tmp_path: Path, data: tuple) -> None:
    preds = data[1]
    with pytest.raises(SubmissionError, match="masks cover 400 points but the mesh has 401"):
        write_submission(tmp_path / "a", preds, num_vertices={**N, "scene0707_00": 401})
    with pytest.raises(SubmissionError, match="no vertex count"):
        write_submission(tmp_path / "b", preds, num_vertices={"scene0707_00": 400})
    with pytest.raises(SubmissionError, match="file name"):
        write_submission(tmp_path / "c", {"../evil": preds["scene0707_00"]})
    # Non-benchmark labels are left out: the written folder still passes the check.
    inst = preds["scene0707_00"]
    mixed = Instances(inst.masks, np.array([5, 1, 0, 7]), inst.scores)
    out = write_submission(tmp_path / "d", {"scene0707_00": mixed})
    assert len((out / "scene0707_00.txt").read_text().splitlines()) == 2
    assert check_submission(out).ok


# ---------------------------------------------------------------------------------------------
# checker: one case per malformed kind


def _replace_line(path: Path, index: int, text: str) -> None:
    lines = path.read_text().splitlines()
    lines[index] = text
    path.write_text("".join(line + "\n" for line in lines))


MASK = "predicted_masks/scene0707_00_000.txt"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (f"{MASK} 5", "expected 3 tokens"),
        (f"{MASK} 5 0.5 extra", "expected 3 tokens"),
        (f"{MASK}  5 0.5", "expected 3 tokens"),
        ("", "expected 3 tokens"),
        ("/data/scene0707_00_000.txt 5 0.5", "must be relative"),
        ("predicted masks/scene0707_00_000.txt 5 0.5", "paths must not contain spaces"),
        ("../outside.txt 5 0.5", "outside the submission folder"),
        (f"{MASK}\t5 0.5", "expected 3 tokens"),
        (f"{MASK} 1 0.5", "not one of the 18"),
        (f"{MASK} 2.5 0.5", "not one of the 18"),
        (f"{MASK} chair 0.5", "label 'chair' is not a number"),
        (f"{MASK} 5 nan", "must be finite and in [0, 1]"),
        (f"{MASK} 5 -0.1", "must be finite and in [0, 1]"),
        (f"{MASK} 5 1.5", "must be finite and in [0, 1]"),
        (f"{MASK} 5 inf", "must be finite and in [0, 1]"),
        ("predicted_masks/nope.txt 5 0.5", "does not exist"),
        ("predicted_masks 5 0.5", "is a folder"),
    ],
)
def test_malformed_line_is_reported_with_file_and_line(
    submission: Path, line: str, message: str
) -> None:
    scene_file = submission / "scene0707_00.txt"
    _replace_line(scene_file, 1, line)
    report = check_submission(submission, num_vertices=N)
    assert not report.ok
    assert [(p.file, p.line) for p in report.problems] == [(str(scene_file), 2)], report.problems
    assert message in report.problems[0].message
    assert str(report.problems[0]).startswith(f"{scene_file}:2: ")


def test_mask_length_mismatch(submission: Path) -> None:
    mask = submission / MASK
    mask.write_text("0\n" * 399)
    report = check_submission(submission, num_vertices=N)
    [problem] = report.problems
    assert problem.file == str(mask)
    assert "399 lines but the scene has 400 vertices" in problem.message
    assert "scene0707_00.txt line 1" in problem.message
    # Without vertex counts, masks of one scene must still agree with each other.
    [problem] = check_submission(submission).problems
    assert problem.file == str(mask) and "has 399 lines but the other masks" in problem.message


def test_non_integer_mask_line(submission: Path) -> None:
    mask = submission / MASK
    lines = mask.read_text().splitlines()
    lines[6] = "1.0"
    mask.write_text("".join(v + "\n" for v in lines))
    [problem] = check_submission(submission, num_vertices=N).problems
    assert (problem.file, problem.line) == (str(mask), 7)
    assert "expected one integer per line" in problem.message


def test_missing_and_extra_scenes(tmp_path: Path, submission: Path) -> None:
    split = tmp_path / "scannetv2_val.txt"
    split.write_text("scene0707_00\nscene0708_00\n# comment\nscene0710_00\n")
    report = check_submission(submission, split_file=split, num_vertices=N)
    problems = {(p.file, p.line): p.message for p in report.problems}
    assert "scene scene0710_00 has no scene0710_00.txt" in problems[(str(split), 4)]
    assert "not in the split" in problems[(str(submission / "scene0709_00.txt"), None)]
    assert len(report.problems) == 2
    report = check_submission(submission, expected_scenes=list(SCENES), num_vertices=N)
    assert report.ok


def test_test_split_must_have_100_scenes(tmp_path: Path, submission: Path) -> None:
    split = tmp_path / "scannetv2_test.txt"
    split.write_text("".join(f"{s}\n" for s in SCENES))
    [problem] = check_submission(submission, split_file=split, num_vertices=N).problems
    assert (
        problem.file == str(split)
        and "lists 3 scenes" in problem.message
        and "100" in problem.message
    )
    other = tmp_path / "mylist.txt"
    other.write_text("".join(f"{s}\n" for s in SCENES))
    assert check_submission(submission, split_file=other, num_vertices=N).ok


def test_unknown_vertex_count_and_repeated_mask(submission: Path) -> None:
    report = check_submission(submission, num_vertices={"scene0707_00": 400, "scene0708_00": 500})
    [problem] = report.problems
    assert problem.file.endswith("scene0709_00.txt") and "no vertex count" in problem.message
    scene_file = submission / "scene0708_00.txt"
    scene_file.write_text(scene_file.read_text() + "predicted_masks/scene0708_00_000.txt 5 0.5\n")
    report = check_submission(submission, num_vertices=N)
    assert report.ok and any("counts it once" in w for w in report.warnings)


def test_vertex_counts_from_ground_truth_and_preprocessed(tmp_path: Path, data: tuple) -> None:
    counts = ground_truth_vertex_counts(data[2])
    assert dict(counts) == N
    scenes = tmp_path / "pre" / "scenes"
    for scene, n in N.items():
        (scenes / scene).mkdir(parents=True)
        (scenes / scene / "meta.json").write_text(json.dumps({"scene_id": scene, "num_points": n}))
    assert dict(preprocessed_vertex_counts(tmp_path / "pre")) == N
    (scenes / "scene0707_00" / "meta.json").write_text("{}")
    with pytest.raises(DatasetLayoutError, match="num_points"):
        preprocessed_vertex_counts(tmp_path / "pre")["scene0707_00"]
    with pytest.raises(DatasetLayoutError, match="no scenes/ folder"):
        preprocessed_vertex_counts(tmp_path)


def test_check_of_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(SubmissionError, match="not found"):
        check_submission(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    [problem] = check_submission(tmp_path / "empty").problems
    assert "no scene files" in problem.message


# ---------------------------------------------------------------------------------------------
# zip


def test_zip_has_no_root_directory(tmp_path: Path, submission: Path) -> None:
    archive = zip_submission(submission, tmp_path / "upload.zip")
    with zipfile.ZipFile(archive) as z:
        names = z.namelist()
        assert "scene0707_00.txt" in names and f"{MASK}" in names
        assert not any(name.startswith(("sub/", "/")) for name in names)
        assert len(names) == 3 + 12
        assert z.read("scene0707_00.txt") == (submission / "scene0707_00.txt").read_bytes()
    with pytest.raises(SubmissionError, match="already exists"):
        zip_submission(submission, archive)
    before = archive.stat().st_mtime_ns
    os.utime(archive, ns=(0, 0))
    zip_submission(submission, archive, overwrite=True)
    assert archive.stat().st_mtime_ns != 0 and before
    with pytest.raises(SubmissionError, match="outside"):
        zip_submission(submission, submission / "inside.zip")
