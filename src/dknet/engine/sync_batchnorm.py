"""BatchNorm statistics over the whole global batch when training in several processes.

With one scene per process, per-process BatchNorm normalises each layer over one room instead
of the global batch that one process with the same batch would see. torch's
``nn.SyncBatchNorm`` synchronises on accelerators only, so on CPU (gloo) dknet uses
:class:`CpuSyncBatchNorm`: the batch mean and variance combine every rank's rows (one
collective), and so do the two row sums of the input gradient (one more), so forward and
backward equal one BatchNorm over the concatenated rows.

Only the backbone's BatchNorms (the U-Net and its output layer) are synchronised. Their
collectives run in the same order on every rank: the backbone's graph has the same shape
everywhere, and its backward starts only once every head has sent its gradient back. The heads
after it run on data-dependent rows (foreground points, candidates, pairs, kernels); a rank
without candidates skips a tower or sends it no gradient, and the backward order of the heads'
nodes depends on those counts, so a collective there would pair with the wrong one on another
rank (a size mismatch or a hang). The heads keep per-process statistics, on CPU and CUDA alike.
"""

from __future__ import annotations

import datetime
from typing import Any

import torch
from torch import nn

__all__ = ["CpuSyncBatchNorm", "SYNCED_MODULES", "synchronise_batchnorms"]

#: Child modules of :class:`~dknet.models.DKNet` whose BatchNorms are synchronised: the
#: backbone's, which every rank runs forward and backward in the same order at every step.
SYNCED_MODULES = ("unet", "output_layer")


class CpuSyncBatchNorm(nn.BatchNorm1d):
    """``BatchNorm1d`` over (rows, channels) whose training statistics span a process group.

    In eval mode, or outside a distributed run, it is exactly ``BatchNorm1d``; its state dict
    has the same keys, so checkpoints load into the plain model.
    """

    def __init__(self, num_features: int, *, group: Any = None, **kwargs: Any) -> None:
        super().__init__(num_features, **kwargs)
        self.group = group

    @classmethod
    def from_batchnorm(cls, bn: nn.BatchNorm1d, group: Any = None) -> CpuSyncBatchNorm:
        """A synchronised copy of ``bn`` sharing its parameters and buffers."""
        sync = cls(
            bn.num_features,
            group=group,
            eps=bn.eps,
            momentum=bn.momentum,
            affine=bn.affine,
            track_running_stats=bn.track_running_stats,
        )
        sync.weight, sync.bias = bn.weight, bn.bias
        sync.running_mean, sync.running_var = bn.running_mean, bn.running_var
        sync.num_batches_tracked = bn.num_batches_tracked
        sync.train(bn.training)
        return sync

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        import torch.distributed as dist

        if not (self.training and dist.is_available() and dist.is_initialized()):
            return super().forward(x)
        if x.dim() != 2:
            raise ValueError(f"CpuSyncBatchNorm expects (rows, channels), got {tuple(x.shape)}")
        group = self.group if self.group is not None else dist.group.WORLD
        weight: torch.Tensor
        bias: torch.Tensor
        if self.affine:
            weight, bias = self.weight, self.bias
        else:
            weight, bias = x.new_ones(x.shape[1]), x.new_zeros(x.shape[1])
        out, mean, var, count = _SyncBatchNorm.apply(x, weight, bias, self.eps, group)
        if self.track_running_stats:
            self._update_running_stats(mean, var, count)
        return out

    @torch.no_grad()
    def _update_running_stats(
        self, mean: torch.Tensor, var: torch.Tensor, count: torch.Tensor
    ) -> None:
        assert self.running_mean is not None and self.running_var is not None
        assert self.num_batches_tracked is not None
        self.num_batches_tracked.add_(1)
        if self.momentum is None:
            factor = 1.0 / float(self.num_batches_tracked)
        else:
            factor = self.momentum
        unbiased = var * (count / (count - 1))  # what BatchNorm1d stores
        self.running_mean.mul_(1 - factor).add_(mean, alpha=factor)
        self.running_var.mul_(1 - factor).add_(unbiased, alpha=factor)


class _SyncBatchNorm(torch.autograd.Function):
    """Batch norm over the rows of every rank: one collective forward, one backward.

    Forward gathers each rank's row count, mean and sum of squared deviations and combines them
    exactly (no E[x^2] - E[x]^2 cancellation). Backward all-reduces the sums of the output
    gradient and of its product with the normalised input, the only terms of BatchNorm's input
    gradient that span rows; the weight and bias gradients stay per rank (DDP sums them).
    """

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        x: torch.Tensor,
        weight: torch.Tensor,
        bias: torch.Tensor,
        eps: float,
        group: Any,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        import torch.distributed as dist

        channels = x.shape[1]
        # (torch.var_mean over rows is ~20x slower on CPU than this fused kernel)
        if x.shape[0]:
            mean, var = torch.batch_norm_update_stats(x, None, None, 0.0)
        else:  # a rank without rows adds nothing (its mean would be NaN)
            mean = var = x.new_zeros(channels)
        local = torch.cat((x.new_full((1,), float(x.shape[0])), mean, var * x.shape[0]))
        gathered = [torch.empty_like(local) for _ in range(dist.get_world_size(group))]
        dist.all_gather(gathered, local.contiguous(), group=group)
        stats = torch.stack(gathered).double()
        counts, means, squares = stats[:, :1], stats[:, 1 : 1 + channels], stats[:, 1 + channels :]
        count = counts.sum()
        if float(count) < 2:
            raise ValueError("BatchNorm needs at least two rows over all processes")
        g_mean = (counts * means).sum(dim=0) / count
        g_var = (squares + counts * (means - g_mean) ** 2).sum(dim=0) / count
        g_mean, g_var = g_mean.to(x.dtype), g_var.to(x.dtype)
        # torch's fused kernels do the row passes: eval-mode batch norm with the global
        # statistics is the training output, and its backward gives the per-rank row sums.
        out = torch.batch_norm(x, weight, bias, g_mean, g_var, False, 0.0, eps, False)
        ctx.save_for_backward(x, weight, g_mean, g_var)
        ctx.count = float(count)
        ctx.eps = eps
        ctx.group = group
        count_t = x.new_full((), float(count))
        ctx.mark_non_differentiable(g_mean, g_var, count_t)
        return out, g_mean, g_var, count_t

    @staticmethod
    def backward(  # type: ignore[override]
        ctx: Any, grad_out: torch.Tensor, *_: Any
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, None, None]:
        import torch.distributed as dist

        x, weight, mean, var = ctx.saved_tensors
        if x.shape[0]:
            # grad_out * weight * invstd, sum(grad_out * x_hat), sum(grad_out) in one pass.
            grad_x, sum_dy_xhat, sum_dy = torch.ops.aten.native_batch_norm_backward(
                grad_out.contiguous(),
                x,
                weight,
                mean,
                var,
                None,
                None,
                False,
                ctx.eps,
                [True, True, True],
            )
        else:  # (that kernel aborts the process on zero rows)
            grad_x = torch.zeros_like(x)
            sum_dy_xhat, sum_dy = torch.zeros_like(weight), torch.zeros_like(weight)
        totals = torch.cat((sum_dy, sum_dy_xhat))
        dist.all_reduce(totals, group=ctx.group)
        channels = x.shape[1]
        mean_dy = totals[:channels] / ctx.count
        mean_dy_xhat = totals[channels:] / ctx.count
        # grad_x -= scale * (mean_dy + x_hat * mean_dy_xhat), x_hat = (x - mean) * invstd
        invstd = torch.rsqrt(var + ctx.eps)
        scale = weight * invstd
        slope = -scale * mean_dy_xhat * invstd
        grad_x.addcmul_(x, slope).add_(-scale * mean_dy - slope * mean)
        return grad_x, sum_dy_xhat, sum_dy, None, None


def synchronise_batchnorms(
    model: nn.Module, device: torch.device, timeout: datetime.timedelta | None = None
) -> nn.Module:
    """Replace, in place, the BatchNorms of :data:`SYNCED_MODULES` with synchronised ones.

    ``nn.SyncBatchNorm`` on accelerators, :class:`CpuSyncBatchNorm` on CPU, in a process group
    of its own (so that its collectives never interleave with DistributedDataParallel's) whose
    collectives fail after ``timeout`` (pass the run's; torch's default is 30 minutes).
    Returns ``model``.
    """
    group: Any = None
    if device.type == "cpu":
        import torch.distributed as dist

        group = dist.new_group(backend="gloo", timeout=timeout)
    for name in SYNCED_MODULES:
        child = getattr(model, name, None)
        if child is None:
            continue
        if device.type == "cpu":
            setattr(model, name, _convert_cpu(child, group))
        else:
            setattr(model, name, nn.SyncBatchNorm.convert_sync_batchnorm(child))
    return model


def _convert_cpu(module: nn.Module, group: Any) -> nn.Module:
    if isinstance(module, nn.BatchNorm1d) and not isinstance(module, CpuSyncBatchNorm):
        return CpuSyncBatchNorm.from_batchnorm(module, group)
    for name, child in module.named_children():
        converted = _convert_cpu(child, group)
        if converted is not child:
            setattr(module, name, converted)
    return module
