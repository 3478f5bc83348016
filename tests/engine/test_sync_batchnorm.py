"""CPU SyncBatchNorm: two gloo processes equal one BatchNorm over the concatenated rows."""

from __future__ import annotations

import copy
import os
from pathlib import Path

import pytest
import torch
from torch import nn

from dknet.engine.sync_batchnorm import SYNCED_MODULES, CpuSyncBatchNorm
from dknet.testing import free_port

CHANNELS = 5


def _inputs(rows: int = 19) -> tuple[torch.Tensor, torch.Tensor, nn.BatchNorm1d]:
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(rows, CHANNELS, generator=gen, dtype=torch.float64) * 3 + 1
    target = torch.randn(rows, CHANNELS, generator=gen, dtype=torch.float64)
    bn = nn.BatchNorm1d(CHANNELS, eps=1e-4, momentum=0.1).double()
    with torch.no_grad():
        bn.weight.copy_(torch.linspace(0.5, 2.0, CHANNELS))
        bn.bias.copy_(torch.linspace(-1.0, 1.0, CHANNELS))
    return x, target, bn


def _worker(rank: int, port: int, out: str, shares: tuple[int, int]) -> None:
    import torch.distributed as dist

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    try:
        x, target, bn = _inputs(sum(shares))
        sync = CpuSyncBatchNorm.from_batchnorm(bn, dist.new_group(backend="gloo"))
        start = sum(shares[:rank])
        share = x[start : start + shares[rank]].clone().requires_grad_(True)
        out_rows = sync(share)
        (out_rows * target[start : start + shares[rank]]).sum().backward()
        torch.save(
            {
                "out": out_rows.detach(),
                "grad": share.grad,
                "weight_grad": sync.weight.grad,
                "bias_grad": sync.bias.grad,
                "running_mean": sync.running_mean,
                "running_var": sync.running_var,
                "tracked": sync.num_batches_tracked,
            },
            Path(out) / f"rank{rank}.pt",
        )
    finally:
        dist.destroy_process_group()


@pytest.mark.parametrize("shares", [(7, 12), (0, 6)], ids=["uneven", "one-rank-empty"])
def test_two_processes_equal_one_batchnorm(tmp_path: Path, shares: tuple[int, int]) -> None:
    import torch.multiprocessing as mp

    mp.spawn(_worker, args=(free_port(), str(tmp_path), shares), nprocs=2, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in range(2)]

    x, target, bn = _inputs(sum(shares))
    x.requires_grad_(True)
    out = bn(x)
    (out * target).sum().backward()

    tol = {"rtol": 1e-10, "atol": 1e-12}
    torch.testing.assert_close(torch.cat([r["out"] for r in ranks]), out.detach(), **tol)
    torch.testing.assert_close(torch.cat([r["grad"] for r in ranks]), x.grad, **tol)
    # Each rank holds the gradient of its own rows' loss; DDP sums (and averages) them.
    torch.testing.assert_close(ranks[0]["weight_grad"] + ranks[1]["weight_grad"], bn.weight.grad)
    torch.testing.assert_close(ranks[0]["bias_grad"] + ranks[1]["bias_grad"], bn.bias.grad)
    for r in ranks:
        torch.testing.assert_close(r["running_mean"], bn.running_mean, **tol)
        torch.testing.assert_close(r["running_var"], bn.running_var, **tol)
        assert int(r["tracked"]) == 1


def test_without_a_process_group_it_is_batchnorm() -> None:
    x, _, bn = _inputs()
    sync = CpuSyncBatchNorm.from_batchnorm(copy.deepcopy(bn))
    torch.testing.assert_close(sync(x), bn(x))
    torch.testing.assert_close(sync.running_var, bn.running_var)
    sync.eval()
    bn.eval()
    torch.testing.assert_close(sync(x), bn(x))
    assert sync.state_dict().keys() == bn.state_dict().keys()


@pytest.mark.spconv
def test_only_always_run_modules_are_converted() -> None:
    from dknet.engine.sync_batchnorm import _convert_cpu
    from dknet.models import DKNet, ModelConfig

    model = DKNet(ModelConfig.cpu())
    keys = model.state_dict().keys()
    for name in SYNCED_MODULES:
        _convert_cpu(getattr(model, name), group=None)
    assert model.state_dict().keys() == keys
    synced = {
        name.split(".")[0]
        for name, module in model.named_modules()
        if isinstance(module, CpuSyncBatchNorm)
    }
    assert synced == set(SYNCED_MODULES)
    plain = [
        name
        for name, module in model.named_modules()
        if type(module) is nn.BatchNorm1d and name.split(".")[0] in SYNCED_MODULES
    ]
    assert plain == []
    # Heads that a rank may skip or leave without gradient keep per-process statistics.
    for head in ("linear", "offset", "kernel_branch", "mask_branch", "merge_branch"):
        assert not any(isinstance(m, CpuSyncBatchNorm) for m in getattr(model, head).modules())
