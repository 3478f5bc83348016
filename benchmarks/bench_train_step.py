"""Where a training iteration's time goes: data, backbone, encoding, decoding, losses, backward.

    python benchmarks/bench_train_step.py CONFIG --data DIR [--checkpoint C] [--iterations N]
        [--stage 1|2|3] [--device cpu|cuda] [KEY=VALUE ...]

Runs ``--iterations`` training steps (batches of the config's ``train.batch_size`` from the
training split, augmented as in training, AdamW at a tiny learning rate so the weights barely
move) and prints the median time of each part plus the points per batch. Parts are timed with a
device synchronisation at each boundary (the model's stage marks). ``--checkpoint`` starts from
trained weights (the default: the bundled model when its configuration matches, else random
weights), which matters: an untrained model finds few foreground points and candidates, so its
encoding and decoding cost little.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

from dknet.config import load_config
from dknet.data import collate_scenes
from dknet.engine.train import _datasets, _launch_numba_threads, _weighted_total
from dknet.models import DKNet
from dknet.models.checkpoint import load_state, model_state_dict, read_checkpoint
from dknet.models.losses import compute_losses

PARTS = ("data", "backbone", "encoding", "decoding", "losses", "backward", "total")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("config", type=Path)
    parser.add_argument("overrides", nargs="*", help="KEY=VALUE config overrides")
    parser.add_argument("--data", type=Path, required=True, help="`dknet preprocess` output")
    parser.add_argument("--checkpoint", type=Path, help="weights to start from")
    parser.add_argument("--iterations", type=int, default=6)
    parser.add_argument("--stage", type=int, default=3, choices=(1, 2, 3))
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--json", type=Path, help="also write the medians here")
    args = parser.parse_args(argv)

    config = load_config(args.config, args.overrides)
    device = torch.device(args.device)
    dataset, _ = _datasets(config, args.data)
    dataset.set_epoch(0)
    _launch_numba_threads()
    threads = torch.get_num_threads()
    model = DKNet(config.model_config())
    source = args.checkpoint
    if source is None:
        from dknet.bundled import default_model

        bundled = default_model()
        if bundled.info.get("model_config", {}).get("width") == config.model_config().width:
            source = bundled.path
    if source is not None:
        state = read_checkpoint(source)
        load_state(model, model_state_dict(state, source), source=str(source))
    model.to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-7)

    def sync() -> float:
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter()

    times: dict[str, list[float]] = {part: [] for part in PARTS}
    points: list[int] = []
    batch_size = config.train.batch_size
    for step in range(args.iterations):
        torch.set_num_threads(threads)  # numba's first parallel call may change it
        indices = [(step * batch_size + i) % len(dataset) for i in range(batch_size)]
        start = sync()
        batch = collate_scenes([dataset[i] for i in indices]).to(device)
        last = [sync()]
        times["data"].append(last[0] - start)

        def mark(name: str, last: list[float] = last) -> None:
            now = sync()
            times[name].append(now - last[0])
            last[0] = now

        state_ = model.run(batch, stage=args.stage, mark=mark)
        before_losses = sync()
        # Stage 1 ends at the backbone mark; stage 2 ends inside the encoding (no mark).
        if args.stage == 1:
            times["encoding"].append(0.0)
        if args.stage == 2:
            times["encoding"].append(before_losses - last[0])
        if args.stage < 3:
            times["decoding"].append(0.0)
        losses = compute_losses(state_, batch, stage=args.stage, config=model.config)
        total = _weighted_total(losses, config)
        after_losses = sync()
        times["losses"].append(after_losses - before_losses)
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        optimizer.step()
        end = sync()
        times["backward"].append(end - after_losses)
        times["total"].append(end - start)
        points.append(int(batch.num_points))
        print(f"step {step + 1}: {points[-1]:,} points, {end - start:.2f} s", file=sys.stderr)
    # The first step pays one-time costs (allocations, numba compilation): report the rest.
    skip = 1 if args.iterations > 2 else 0
    medians = {part: statistics.median(values[skip:]) for part, values in times.items()}
    result = {
        "config": str(args.config),
        "overrides": args.overrides,
        "stage": args.stage,
        "device": args.device,
        "threads": threads,
        "iterations_timed": args.iterations - skip,
        "median_points_per_batch": statistics.median(points[skip:]),
        "median_seconds": medians,
    }
    print(f"{'part':<10} {'median s':>9}")
    for part in PARTS:
        print(f"{part:<10} {medians[part]:>9.3f}")
    print(f"points per batch (median): {result['median_points_per_batch']:,.0f}")
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
