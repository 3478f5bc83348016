"""spconv-cu118 on CPU: sparse convolutions against dense conv3d, forward and backward."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from dknet.models.spconv_compat import conv_algo, ensure_spconv_compat, spconv_mode

pytestmark = pytest.mark.spconv

SHAPE = (6, 7, 5)


def _random_sites(num: int, seed: int, batch: int = 2) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    rows = []
    for b in range(batch):
        coords = torch.stack([torch.randint(0, s, (num,), generator=g) for s in SHAPE], dim=1)
        coords = torch.unique(coords, dim=0)
        rows.append(torch.cat([torch.full((len(coords), 1), b), coords], dim=1))
    return torch.cat(rows).int()


def _dense(features: torch.Tensor, indices: torch.Tensor, batch: int) -> torch.Tensor:
    out = torch.zeros(batch, features.shape[1], *SHAPE, dtype=features.dtype)
    b, x, y, z = indices.long().unbind(1)
    out[b, :, x, y, z] = features
    return out


def _gather(dense: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
    b, x, y, z = indices.long().unbind(1)
    return dense[b, :, x, y, z]


def _krsc_to_oidhw(weight: torch.Tensor) -> torch.Tensor:
    # spconv 2 stores weights as (out, kx, ky, kz, in).
    return weight.permute(0, 4, 1, 2, 3).contiguous()


@pytest.mark.parametrize("seed", [0, 1])
def test_submanifold_conv_matches_dense(seed: int) -> None:
    spconv = ensure_spconv_compat()
    indices = _random_sites(60, seed)
    feats = torch.randn(len(indices), 4, dtype=torch.float64, requires_grad=True)
    conv = spconv.SubMConv3d(4, 3, 3, bias=True, indice_key="s", algo=conv_algo("cpu")).double()
    x = spconv.SparseConvTensor(feats, indices, list(SHAPE), 2)
    out = conv(x)
    assert torch.equal(out.indices, indices)

    feats_ref = feats.detach().clone().requires_grad_(True)
    weight_ref = _krsc_to_oidhw(conv.weight.detach()).requires_grad_(True)
    dense_out = F.conv3d(_dense(feats_ref, indices, 2), weight_ref, conv.bias.detach(), padding=1)
    ref = _gather(dense_out, indices)
    torch.testing.assert_close(out.features, ref, rtol=1e-9, atol=1e-9)

    grad = torch.randn_like(ref)
    out.features.backward(grad)
    ref.backward(grad)
    torch.testing.assert_close(feats.grad, feats_ref.grad, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(
        _krsc_to_oidhw(conv.weight.grad), weight_ref.grad, rtol=1e-9, atol=1e-9
    )


def test_strided_and_inverse_conv_match_dense() -> None:
    spconv = ensure_spconv_compat()
    indices = _random_sites(80, 3)
    feats = torch.randn(len(indices), 3, dtype=torch.float64, requires_grad=True)
    down = spconv.SparseConv3d(3, 5, 2, stride=2, bias=False, indice_key="d", algo=conv_algo("cpu"))
    up = spconv.SparseInverseConv3d(5, 2, 2, bias=False, indice_key="d", algo=conv_algo("cpu"))
    down, up = down.double(), up.double()
    x = spconv.SparseConvTensor(feats, indices, list(SHAPE), 2)
    mid = down(x)
    out = up(mid)
    assert torch.equal(out.indices, indices)

    feats_ref = feats.detach().clone().requires_grad_(True)
    w_down = _krsc_to_oidhw(down.weight.detach()).requires_grad_(True)
    w_up = _krsc_to_oidhw(up.weight.detach()).requires_grad_(True)
    dense_mid = F.conv3d(_dense(feats_ref, indices, 2), w_down, stride=2)
    # Only coarse sites that some input reaches are active in the sparse result.
    active = F.max_pool3d(
        _dense(torch.ones(len(indices), 1, dtype=torch.float64), indices, 2),
        2,
        stride=2,
        ceil_mode=False,
    )
    dense_mid = (
        dense_mid * active[:, :, : dense_mid.shape[2], : dense_mid.shape[3], : dense_mid.shape[4]]
    )
    mid_ref = _gather(dense_mid, mid.indices)
    torch.testing.assert_close(mid.features, mid_ref, rtol=1e-9, atol=1e-9)

    # The inverse conv is a transposed conv whose weight is (in, out, k, k, k) in torch.
    dense_up = F.conv_transpose3d(dense_mid, w_up.transpose(0, 1), stride=2)
    pad = [
        0,
        SHAPE[2] - dense_up.shape[4],
        0,
        SHAPE[1] - dense_up.shape[3],
        0,
        SHAPE[0] - dense_up.shape[2],
    ]
    dense_up = F.pad(dense_up, pad)
    ref = _gather(dense_up, indices)
    torch.testing.assert_close(out.features, ref, rtol=1e-9, atol=1e-9)

    grad = torch.randn_like(ref)
    out.features.backward(grad)
    ref.backward(grad)
    torch.testing.assert_close(feats.grad, feats_ref.grad, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(_krsc_to_oidhw(down.weight.grad), w_down.grad, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(_krsc_to_oidhw(up.weight.grad), w_up.grad, rtol=1e-9, atol=1e-9)


def test_backward_through_python_gemm_path_uses_the_shim(monkeypatch: pytest.MonkeyPatch) -> None:
    """spconv's Python fallback backward asks for a CUDA stream unconditionally."""
    spconv = ensure_spconv_compat()
    from spconv.pytorch import ops

    monkeypatch.setattr(ops, "SPCONV_CPP_GEMM", False)
    indices = _random_sites(40, 5)
    feats = torch.randn(len(indices), 2, dtype=torch.float64, requires_grad=True)
    conv = spconv.SparseConv3d(2, 2, 2, stride=2, indice_key="p", algo=conv_algo("cpu")).double()
    out = conv(spconv.SparseConvTensor(feats, indices, list(SHAPE), 2))
    out.features.sum().backward()
    assert feats.grad is not None and torch.isfinite(feats.grad).all()


def test_stream_shim_returns_zero_without_cuda() -> None:
    ensure_spconv_compat()
    from spconv.pytorch import ops

    if not torch.cuda.is_available():
        assert ops.get_current_stream() == 0
        assert spconv_mode() == "cpu"
