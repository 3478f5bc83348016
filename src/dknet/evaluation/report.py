"""The typed evaluation result and its JSON / CSV files.

Values are fractions in [0, 1] (as the benchmark's evaluator prints them, with three decimals).
An AP is NaN for a class without ground truth; a semantic IoU is NaN only for a class with
tp + fp + fn = 0 (a class predicted but absent from the ground truth scores 0, see
:func:`dknet.evaluation.semantic.semantic_result`). JSON writes NaN as ``null``, CSV as ``nan``.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dknet.evaluation.records import OVERLAPS
from dknet.evaluation.semantic import SemanticResult
from dknet.io.atomic import atomic_write_text
from dknet.labels import (
    INSTANCE_CLASS_NAMES,
    INSTANCE_NYU40_IDS,
    SEMANTIC_CLASS_NAMES,
    SEMANTIC_NYU40_IDS,
)

__all__ = ["ClassAP", "EvalResult", "build_eval_result"]


@dataclass(frozen=True)
class ClassAP:
    """AP of one instance class.

    Attributes:
        name: class name (e.g. "chair").
        nyu40_id: its nyu40 id.
        ap: mean AP over the overlaps 0.50..0.90 (NaN: no ground truth of this class).
        ap50: AP at overlap 0.5.
        ap25: AP at overlap 0.25.
    """

    name: str
    nyu40_id: int
    ap: float
    ap50: float
    ap25: float


@dataclass(frozen=True, eq=False)
class EvalResult:
    """Instance-segmentation scores of a set of scenes (and optional semantic scores).

    Attributes:
        ap: nan-mean over classes and the nine overlaps 0.50..0.90.
        ap50: nan-mean over classes at overlap 0.5.
        ap25: nan-mean over classes at overlap 0.25.
        classes: the 18 per-class results, in ``INSTANCE_NYU40_IDS`` order.
        ap_per_overlap: (18, 10) float64 AP per class and overlap (columns as ``overlaps``).
        overlaps: the ten overlap thresholds (0.50..0.90, then 0.25).
        scenes: the scenes scored, sorted.
        missing_scenes: ground-truth scenes that had no prediction file (not scored).
        semantic: semantic accuracy / mIoU, when semantic predictions were given.
    """

    ap: float
    ap50: float
    ap25: float
    classes: tuple[ClassAP, ...]
    ap_per_overlap: np.ndarray
    overlaps: tuple[float, ...]
    scenes: tuple[str, ...]
    missing_scenes: tuple[str, ...] = ()
    semantic: SemanticResult | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (NaN -> None) used by :meth:`write_json`."""
        data: dict[str, Any] = {
            "ap": _num(self.ap),
            "ap50": _num(self.ap50),
            "ap25": _num(self.ap25),
            "classes": [
                {
                    "class": c.name,
                    "nyu40_id": c.nyu40_id,
                    "ap": _num(c.ap),
                    "ap50": _num(c.ap50),
                    "ap25": _num(c.ap25),
                }
                for c in self.classes
            ],
            "overlaps": list(self.overlaps),
            "ap_per_overlap": [[_num(v) for v in row] for row in self.ap_per_overlap.tolist()],
            "num_scenes": len(self.scenes),
            "scenes": list(self.scenes),
            "missing_scenes": list(self.missing_scenes),
        }
        if self.semantic is not None:
            sem = self.semantic
            data["semantic"] = {
                "accuracy": _num(sem.accuracy),
                "miou": _num(sem.miou),
                "num_scenes": sem.num_scenes,
                "classes": [
                    {"class": name, "nyu40_id": nyu, "iou": _num(iou)}
                    for name, nyu, iou in zip(
                        SEMANTIC_CLASS_NAMES, SEMANTIC_NYU40_IDS, sem.iou, strict=False
                    )
                ],
                "confusion": sem.confusion.tolist(),
            }
        return data

    def write_json(self, path: str | os.PathLike[str]) -> Path:
        """Write :meth:`to_dict` as JSON, atomically. Returns the path."""
        atomic_write_text(path, json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n")
        return Path(path)

    def write_csv(self, path: str | os.PathLike[str]) -> Path:
        """Write the per-class table as CSV, atomically. Returns the path.

        Columns ``class,class_id,ap,ap50,ap25`` (class_id = nyu40 id), one row per instance class
        and a final ``average`` row. With semantic results, an ``iou`` column is added and
        wall and floor (semantic-only classes) get rows with empty AP cells; the average row
        then carries the mIoU.
        """
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        sem = self.semantic
        header = ["class", "class_id", "ap", "ap50", "ap25"] + (["iou"] if sem else [])
        writer.writerow(header)
        by_id = {c.nyu40_id: c for c in self.classes}
        ids = SEMANTIC_NYU40_IDS if sem else INSTANCE_NYU40_IDS
        names = SEMANTIC_CLASS_NAMES if sem else INSTANCE_CLASS_NAMES
        for i, (name, nyu) in enumerate(zip(names, ids, strict=True)):
            c = by_id.get(nyu)
            row = [name, str(nyu)] + (
                [_cell(c.ap), _cell(c.ap50), _cell(c.ap25)] if c else ["", "", ""]
            )
            if sem:
                row.append(_cell(sem.iou[i]))
            writer.writerow(row)
        avg = ["average", "", _cell(self.ap), _cell(self.ap50), _cell(self.ap25)]
        writer.writerow(avg + ([_cell(sem.miou)] if sem else []))
        atomic_write_text(path, buffer.getvalue())
        return Path(path)


def _num(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def _cell(value: float) -> str:
    return "nan" if math.isnan(value) else repr(float(value))


def _nanmean(values: np.ndarray) -> float:
    finite = values[~np.isnan(values)]
    return float(finite.mean()) if finite.size else float("nan")


def build_eval_result(
    table: np.ndarray,
    scenes: Sequence[str],
    missing_scenes: Sequence[str] = (),
    semantic: SemanticResult | None = None,
) -> EvalResult:
    """Average an (18, 10) AP table into an :class:`EvalResult`.

    Args:
        table: (18, 10) float64 AP per class and overlap (columns 0..8: 0.50..0.90, column 9:
            0.25), NaN for classes without ground truth.
        scenes: the scenes scored.
        missing_scenes: ground-truth scenes without predictions.
        semantic: semantic metrics, if any.

    Returns:
        Per-class means over the nine 0.50..0.90 overlaps and the class nan-means.
    """
    at50 = np.isclose(OVERLAPS, 0.5)
    at25 = np.isclose(OVERLAPS, 0.25)
    main = ~at25
    classes = tuple(
        ClassAP(
            name=name,
            nyu40_id=nyu,
            ap=float(np.mean(table[i, main])),
            ap50=float(np.mean(table[i, at50])),
            ap25=float(np.mean(table[i, at25])),
        )
        for i, (name, nyu) in enumerate(zip(INSTANCE_CLASS_NAMES, INSTANCE_NYU40_IDS, strict=True))
    )
    return EvalResult(
        ap=_nanmean(table[:, main]),
        ap50=_nanmean(table[:, at50]),
        ap25=_nanmean(table[:, at25]),
        classes=classes,
        ap_per_overlap=np.array(table, dtype=np.float64),
        overlaps=tuple(float(v) for v in OVERLAPS),
        scenes=tuple(scenes),
        missing_scenes=tuple(missing_scenes),
        semantic=semantic,
    )
