"""Benchmark `dknet evaluate`: a validation-sized prediction folder, from disk and in memory.

Generates (in a temporary folder, deleted afterwards) ScanNet-val-sized data: by default 312
scenes x 150 000 vertices, 20 predicted masks per scene (~2 GB of mask files), then times

* ``evaluate_prediction_folder`` (parallel workers parse the files), target <= 60 s on 2 cores;
* ``evaluate_instances`` on the same content held in memory, target <= 10 s;

and checks that both give the same AP table. Run::

    python benchmarks/bench_evaluate.py [--scenes 312] [--vertices 150000] [--masks 20]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from dknet.evaluation import evaluate_instances, evaluate_prediction_folder
from dknet.io.ids_txt import format_ids
from dknet.labels import INSTANCE_NYU40_IDS
from dknet.structures.instances import Instances

NUM_OBJECTS = 30


def make_scene(seed: int, num_vertices: int, num_masks: int) -> tuple[np.ndarray, Instances]:
    """One scene: ground-truth ids and predictions (perturbed copies of its instances)."""
    rng = np.random.default_rng(seed)
    cuts = np.sort(rng.choice(np.arange(1, num_vertices), size=NUM_OBJECTS - 1, replace=False))
    bounds = np.concatenate([[0], cuts, [num_vertices]])
    nyu = rng.choice(np.array((*INSTANCE_NYU40_IDS, 1, 2, 40, 0)), size=NUM_OBJECTS)
    values = np.where(nyu > 0, nyu * 1000 + np.arange(1, NUM_OBJECTS + 1), 0)
    gt = np.repeat(values, np.diff(bounds)).astype(np.int64)
    picks = rng.choice(NUM_OBJECTS, size=num_masks, replace=num_masks > NUM_OBJECTS)
    masks = np.zeros((num_masks, num_vertices), dtype=bool)
    labels = np.empty(num_masks, dtype=np.int64)
    for k, obj in enumerate(picks.tolist()):
        a, b = int(bounds[obj]), int(bounds[obj + 1])
        width = b - a
        shift = int(rng.integers(-width // 2 - 1, width // 2 + 1))
        masks[k, max(0, a + shift) : min(num_vertices, b + shift)] = True
        good = nyu[obj] in INSTANCE_NYU40_IDS and rng.random() < 0.8
        labels[k] = nyu[obj] if good else rng.choice(INSTANCE_NYU40_IDS)
    scores = rng.random(num_masks).astype(np.float32)
    return gt, Instances(masks, labels, scores)


def write_scene(root: Path, scene: str, gt: np.ndarray, inst: Instances) -> None:
    (root / "gt" / f"{scene}.txt").write_bytes(format_ids(gt))
    lines = []
    for k in range(len(inst)):
        rel = f"predicted_masks/{scene}_{k:03d}.txt"
        (root / "pred" / rel).write_bytes(format_ids(inst.masks[k]))
        lines.append(f"{rel} {int(inst.labels[k])} {float(inst.scores[k])!r}\n")
    (root / "pred" / f"{scene}.txt").write_text("".join(lines))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scenes", type=int, default=312)
    parser.add_argument("--vertices", type=int, default=150_000)
    parser.add_argument("--masks", type=int, default=20)
    parser.add_argument("--workers", type=int, default=0, help="0: one per CPU core")
    parser.add_argument("--tmp-dir", type=Path, default=None, help="where to generate the data")
    args = parser.parse_args()

    base = args.tmp_dir or Path(tempfile.gettempdir())
    # Masks are 2 bytes per vertex; ground truth ~6 bytes per vertex; keep 25 % headroom.
    need = int(args.scenes * args.vertices * (2 * args.masks + 6) * 1.25)
    free = shutil.disk_usage(base).free
    if free < need:
        print(f"not enough disk in {base}: need {need / 1e9:.1f} GB, free {free / 1e9:.1f} GB")
        return 1
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"python {platform.python_version()}, numpy {np.__version__}"
    )
    print(
        f"data: {args.scenes} scenes x {args.vertices} vertices x {args.masks} masks "
        f"(~{need / 1.25 / 1e9:.1f} GB)"
    )
    root = Path(tempfile.mkdtemp(prefix="dknet-bench-eval-", dir=base))
    try:
        (root / "gt").mkdir()
        (root / "pred" / "predicted_masks").mkdir(parents=True)
        scenes = [f"scene{i:04d}_00" for i in range(args.scenes)]
        t0 = time.perf_counter()
        for i, scene in enumerate(scenes):
            gt, inst = make_scene(i, args.vertices, args.masks)
            write_scene(root, scene, gt, inst)
        print(f"generate + write: {time.perf_counter() - t0:.1f} s")

        t0 = time.perf_counter()
        folder = evaluate_prediction_folder(root / "pred", root / "gt", workers=args.workers)
        t_folder = time.perf_counter() - t0
        print(
            f"evaluate_prediction_folder (workers={args.workers or os.cpu_count()}): "
            f"{t_folder:.2f} s   AP {folder.ap:.4f} AP50 {folder.ap50:.4f} AP25 {folder.ap25:.4f}"
        )

        gts: dict[str, np.ndarray] = {}
        preds: dict[str, Instances] = {}
        for i, scene in enumerate(scenes):
            gts[scene], preds[scene] = make_scene(i, args.vertices, args.masks)
        t0 = time.perf_counter()
        memory = evaluate_instances(preds, gts)
        t_memory = time.perf_counter() - t0
        print(
            f"evaluate_instances (in memory): {t_memory:.2f} s   AP {memory.ap:.4f} "
            f"AP50 {memory.ap50:.4f} AP25 {memory.ap25:.4f}"
        )
        same = np.allclose(folder.ap_per_overlap, memory.ap_per_overlap, atol=1e-12, equal_nan=True)
        print(f"same AP table from disk and memory: {same}")
        return 0 if same else 1
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
