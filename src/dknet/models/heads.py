"""Point-wise heads, feature towers, the merge MLP and the weight generator (ALGORITHM.md 4, 6, 7).

The linear heads (semantic, offset, heat) are ``nn.Sequential`` of ``nn.Linear`` + BatchNorm
(eps 1e-4). The towers that the authors wrote as 1x1 ``Conv1d`` stacks (mask, kernel, merge,
weight generator) keep ``Conv1d`` weights ``[out, in, 1]`` and BatchNorm eps 1e-5, so their keys
and shapes equal the authors'; they are applied to (rows, channels) matrices directly, which is
the same computation as the authors' (1, channels, rows) layout.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from dknet.models.backbone import backbone_norm

__all__ = [
    "TOWER_BN_EPS",
    "PointConv",
    "conv_tower",
    "heat_head",
    "offset_trunk",
    "semantic_head",
    "WeightGenerator",
]

#: eps of the BatchNorms inside the 1x1-conv towers (the authors' value; not stored in files).
TOWER_BN_EPS = 1e-5


class PointConv(nn.Conv1d):
    """A 1x1 ``Conv1d`` applied to a (rows, in) matrix: ``x @ W[:, :, 0].T + b``."""

    def __init__(self, in_channels: int, out_channels: int, *, bias: bool) -> None:
        super().__init__(in_channels, out_channels, kernel_size=1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return F.linear(x, self.weight[:, :, 0], self.bias)


class _ConvBlock(nn.Sequential):
    """``0``: bias-free 1x1 conv, ``1``: BatchNorm (eps 1e-5), ``2``: ReLU."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        conv = PointConv(in_channels, out_channels, bias=False)
        nn.init.kaiming_uniform_(conv.weight, a=1)
        super().__init__(
            conv,
            nn.BatchNorm1d(out_channels, eps=TOWER_BN_EPS, momentum=0.1),
            nn.ReLU(),
        )


def conv_tower(channels: int, out_channels: int, depth: int = 3) -> nn.Sequential:
    """``depth`` x (1x1 conv, BN, ReLU) at ``channels``, then a 1x1 conv with bias to
    ``out_channels``; keys ``{i}.0.weight``, ``{i}.1.*``, ``{depth}.weight/bias``."""
    blocks: list[nn.Module] = [_ConvBlock(channels, channels) for _ in range(depth)]
    blocks.append(PointConv(channels, out_channels, bias=True))
    return nn.Sequential(*blocks)


def semantic_head(width: int, num_classes: int) -> nn.Sequential:
    """``linear``: Linear, BN, ReLU, Linear, BN, ReLU, Linear -> class logits."""
    return nn.Sequential(
        nn.Linear(width, width),
        backbone_norm(width),
        nn.ReLU(),
        nn.Linear(width, width),
        backbone_norm(width),
        nn.ReLU(),
        nn.Linear(width, num_classes),
    )


def offset_trunk(width: int) -> nn.Sequential:
    """``offset``: Linear, BN, ReLU (followed by ``offset_linear`` to 3 numbers)."""
    return nn.Sequential(nn.Linear(width, width), backbone_norm(width), nn.ReLU())


def heat_head(width: int) -> nn.Sequential:
    """``candidate_linear``: input [feature, predicted offset] -> width, twice with BN/ReLU."""
    return nn.Sequential(
        nn.Linear(width + 3, width),
        backbone_norm(width),
        nn.ReLU(),
        nn.Linear(width, width),
        backbone_norm(width),
        nn.ReLU(),
    )


class WeightGenerator(nn.Module):
    """Instance kernel (embed_dim) -> the dynamic decoder's L parameters.

    ``before_embedding_tower.0`` is one (1x1 conv, BN, ReLU) block, ``controller`` a 1x1 conv
    with bias, initialised N(0, 0.01) / 0 as in the paper's code.
    """

    def __init__(self, embed_dim: int, num_params: int) -> None:
        super().__init__()
        self.before_embedding_tower = nn.Sequential(_ConvBlock(embed_dim, embed_dim))
        self.controller = PointConv(embed_dim, num_params, bias=True)
        nn.init.normal_(self.controller.weight, std=0.01)
        assert self.controller.bias is not None
        nn.init.zeros_(self.controller.bias)

    def forward(self, kernels: torch.Tensor) -> torch.Tensor:
        """(I, embed_dim) -> (I, L)."""
        return self.controller(self.before_embedding_tower(kernels))
