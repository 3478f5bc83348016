"""Turn a finished `dknet train` run into the bundled default model (float16 + description).

    python scripts/bundle_default_model.py RUN_DIR --out OUT_DIR [--scores UNSEEN.json]

Writes ``OUT_DIR/dknet-default.pth.xz`` (the run's ``checkpoints/last.pth`` with float16 weights and
no optimizer state) and ``OUT_DIR/dknet-default.json`` (its SHA-256, model configuration, the
training recipe and time read from the run, and, with ``--scores``, the ``dknet evaluate --json``
scores on unseen rooms). With ``--scores`` it also prints the per-class table of
docs/MODEL_CARD.md. ``scripts/train_default_model.sh`` calls it; copying OUT_DIR's two files
into ``src/dknet/assets/`` ships them.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import platform
import sys
from pathlib import Path
from typing import Any

logger = logging.getLogger("bundle_default_model")


def _training_facts(run: Path) -> dict[str, Any]:
    """Iterations, epochs, stage, seconds per iteration and wall time from metrics.jsonl."""
    records = [
        json.loads(line)
        for line in (run / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    train = [r for r in records if r.get("kind") == "train"]
    vals = [
        {k: r.get(k) for k in ("epoch", "iteration", "ap", "ap50", "ap25", "semantic_miou")}
        for r in records
        if r.get("kind") == "val"
    ]
    if not train:
        raise SystemExit(f"{run / 'metrics.jsonl'}: no training records")
    speeds = [r["seconds_per_iteration"] for r in train if r.get("seconds_per_iteration")]
    speeds.sort()
    last = run / "checkpoints" / "last.pth"
    iterations = train[-1]["iteration"]
    if last.is_file():
        from dknet.models.checkpoint import read_checkpoint

        iterations = read_checkpoint(last).get("training", {}).get("iteration", iterations)
    return {
        "iterations": iterations,
        "epochs": train[-1]["epoch"],
        "median_seconds_per_iteration": round(speeds[len(speeds) // 2], 3) if speeds else None,
        "validation": vals,
    }


def _fmt(value: float | None) -> str:
    return (
        "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.3f}"
    )


def score_table(scores: dict[str, Any]) -> str:
    """The model card's per-class markdown table."""
    lines = ["| class | AP | AP50 | AP25 |", "|---|---:|---:|---:|"]
    for entry in scores["classes"]:
        lines.append(
            f"| {entry['class']} | {_fmt(entry['ap'])} | {_fmt(entry['ap50'])} | "
            f"{_fmt(entry['ap25'])} |"
        )
    lines.append(
        f"| **mean** | **{_fmt(scores['ap'])}** | **{_fmt(scores['ap50'])}** | "
        f"**{_fmt(scores['ap25'])}** |"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, help="the `dknet train` output folder")
    parser.add_argument("--out", type=Path, required=True, help="where the two files go")
    parser.add_argument("--scores", type=Path, help="`dknet evaluate --json` on unseen rooms")
    parser.add_argument(
        "--warmup", type=Path, help="the run whose weights RUN started from (train.init_from)"
    )
    parser.add_argument(
        "--checkpoint", default="last.pth", help="which file of RUN/checkpoints (last.pth)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    import torch

    from dknet import __version__
    from dknet.bundled import DEFAULT_MODEL_FILE, DEFAULT_MODEL_INFO, file_sha256
    from dknet.io.atomic import atomic_write_text
    from dknet.models import load_checkpoint, save_checkpoint
    from dknet.models.checkpoint import read_checkpoint

    source = args.run / "checkpoints" / args.checkpoint
    stored = read_checkpoint(source)
    train_config = dict(stored.get("train_config") or {})
    init_from = (train_config.get("train") or {}).get("init_from")
    if init_from:  # no machine paths in the shipped file
        train_config["train"] = {**train_config["train"], "init_from": Path(init_from).name}
    model = load_checkpoint(source)
    args.out.mkdir(parents=True, exist_ok=True)
    weights = save_checkpoint(
        args.out / DEFAULT_MODEL_FILE,
        model,
        extra={
            "train_config": train_config,
            "training": {
                k: v
                for k, v in dict(stored.get("training") or {}).items()
                if k in ("epoch", "iteration", "stage", "iterations_per_epoch", "world_size")
            },
        },
        half=True,
    )
    info: dict[str, Any] = {
        "file": DEFAULT_MODEL_FILE,
        "sha256": file_sha256(weights),
        "bytes": weights.stat().st_size,
        "parameters": sum(p.numel() for p in model.parameters()),
        "dtype": "float16, xz-compressed (loaded as float32)",
        "model_config": model.config.to_dict(),
        "trained_with": {
            "recipe": "scripts/train_default_model.sh (configs/default.yaml)",
            "data": "dknet synth --scenes 200 --seed 0 (scan preset): the train split",
            "dknet_version": __version__,
            "torch_version": str(torch.__version__),
            "bundled_on": f"{platform.machine()}, {os.cpu_count()} CPUs",
            **_training_facts(args.run),
        },
        "card": "docs/MODEL_CARD.md",
    }
    if args.warmup is not None:
        info["trained_with"]["warmup"] = _training_facts(args.warmup)
    if args.scores is not None:
        scores = json.loads(args.scores.read_text(encoding="utf-8"))
        info["unseen_scores"] = {
            "data": "dknet synth --scenes 48 --seed 1000 (scan preset): every labelled room",
            "num_scenes": scores["num_scenes"],
            "ap": scores["ap"],
            "ap50": scores["ap50"],
            "ap25": scores["ap25"],
            "classes": scores["classes"],
            "semantic_miou": scores.get("semantic", {}).get("miou"),
        }
        print(score_table(scores))
    atomic_write_text(args.out / DEFAULT_MODEL_INFO, json.dumps(info, indent=2) + "\n")
    logger.info("wrote %s (%.1f MB) and %s", weights, info["bytes"] / 1e6, DEFAULT_MODEL_INFO)
    return 0


if __name__ == "__main__":
    sys.exit(main())
