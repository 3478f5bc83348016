"""The sparse 3D U-Net backbone (ALGORITHM.md section 3), with the authors' module names.

Attribute names and ``nn.Sequential`` indices (parameter-free ReLUs included) follow the authors'
module tree, so the ``state_dict`` keys equal theirs
(``unet.u.u.blocks.block0.conv_branch.2.weight`` and so on) and their checkpoint loads with
``strict=True``. Pre-activation residual blocks (BN, ReLU, 3^3 submanifold conv, twice),
stride-2 sparse convolutions down, inverse convolutions up, skips by concatenation. BatchNorm
eps is 1e-4 (not stored in checkpoints, so it is set here).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import torch
from torch import nn

from dknet.models.spconv_compat import ensure_spconv_compat

__all__ = ["BACKBONE_BN_EPS", "ResidualBlock", "UNet", "sparse_convs"]

#: eps of every BatchNorm in the backbone and the linear heads (the authors' value).
BACKBONE_BN_EPS = 1e-4


def backbone_norm(channels: int) -> nn.BatchNorm1d:
    """BatchNorm1d with the backbone's eps 1e-4 and momentum 0.1."""
    return nn.BatchNorm1d(channels, eps=BACKBONE_BN_EPS, momentum=0.1)


class ResidualBlock(nn.Module):
    """Pre-activation residual block: ``x + conv(relu(bn(conv(relu(bn(x))))))``.

    The shortcut is the identity when the widths agree, otherwise a bias-free 1^3 submanifold
    convolution (``i_branch.0``).
    """

    def __init__(self, in_channels: int, out_channels: int, indice_key: str) -> None:
        super().__init__()
        spconv = ensure_spconv_compat()
        if in_channels == out_channels:
            self.i_branch = spconv.SparseSequential(nn.Identity())
        else:
            self.i_branch = spconv.SparseSequential(
                spconv.SubMConv3d(in_channels, out_channels, kernel_size=1, bias=False)
            )
        self.conv_branch = spconv.SparseSequential(
            backbone_norm(in_channels),
            nn.ReLU(),
            spconv.SubMConv3d(
                in_channels, out_channels, 3, padding=1, bias=False, indice_key=indice_key
            ),
            backbone_norm(out_channels),
            nn.ReLU(),
            spconv.SubMConv3d(
                out_channels, out_channels, 3, padding=1, bias=False, indice_key=indice_key
            ),
        )

    def forward(self, x: Any) -> Any:
        shortcut = self.i_branch(x)
        out = self.conv_branch(x)
        return out.replace_feature(out.features + shortcut.features)


class UNet(nn.Module):
    """One U-Net level and, recursively (``self.u``), every level below it.

    Args:
        channels: widths from this level down, e.g. ``(32, 64, ..., 224)``.
        blocks_per_level: residual blocks per side.
        level: depth of this level (0 at the top); names the spconv index keys.
    """

    def __init__(self, channels: tuple[int, ...], blocks_per_level: int, level: int = 0) -> None:
        super().__init__()
        spconv = ensure_spconv_compat()
        c = channels[0]
        key = f"subm{level + 1}"
        self.num_levels = len(channels)
        self.blocks = nn.Sequential(
            OrderedDict((f"block{i}", ResidualBlock(c, c, key)) for i in range(blocks_per_level))
        )
        if len(channels) > 1:
            down_key = f"spconv{level + 1}"
            self.conv = spconv.SparseSequential(
                backbone_norm(c),
                nn.ReLU(),
                spconv.SparseConv3d(
                    c, channels[1], kernel_size=2, stride=2, bias=False, indice_key=down_key
                ),
            )
            self.u = UNet(channels[1:], blocks_per_level, level + 1)
            self.deconv = spconv.SparseSequential(
                backbone_norm(channels[1]),
                nn.ReLU(),
                spconv.SparseInverseConv3d(
                    channels[1], c, kernel_size=2, bias=False, indice_key=down_key
                ),
            )
            self.blocks_tail = nn.Sequential(
                OrderedDict(
                    (f"block{i}", ResidualBlock(2 * c if i == 0 else c, c, key))
                    for i in range(blocks_per_level)
                )
            )

    def forward(self, x: Any) -> Any:
        out = self.blocks(x)
        if self.num_levels == 1:
            return out
        lower = self.deconv(self.u(self.conv(out)))
        merged = out.replace_feature(torch.cat((out.features, lower.features), dim=1))
        return self.blocks_tail(merged)


def sparse_convs(module: nn.Module) -> list[nn.Module]:
    """Every spconv convolution inside ``module`` (they carry an ``algo`` attribute)."""
    spconv = ensure_spconv_compat()
    conv_types = (spconv.SubMConv3d, spconv.SparseConv3d, spconv.SparseInverseConv3d)
    return [m for m in module.modules() if isinstance(m, conv_types)]
