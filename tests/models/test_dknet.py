"""The DKNet network: module tree, forward, stages, losses, determinism, authors'-bug fixes."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch

from dknet.data.batch import PointBatch
from dknet.models import DKNet, ModelConfig
from dknet.models.dknet import scene_softmax
from dknet.testing import synthetic_batch

pytestmark = pytest.mark.spconv

# key, shape, dtype and kind of every tensor of the authors' released model
MANIFEST = Path(__file__).with_name("authors_state_dict.tsv")
TINY = ModelConfig(width=8, levels=3)
#: small enough to train in seconds, large enough to separate the spheres reliably
SMALL = ModelConfig(width=16, levels=4)


def _trained(
    batch: PointBatch, config: ModelConfig = SMALL, steps: tuple[int, ...] = (15, 15, 40)
) -> DKNet:
    torch.manual_seed(0)
    model = DKNet(config)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    for stage, count in zip((1, 2, 3), steps, strict=True):
        for _ in range(count):
            loss = model(batch, stage=stage)["total"]
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model


@pytest.fixture()
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture(scope="module")
def trained(tiny_batch: PointBatch) -> DKNet:
    return _trained(tiny_batch)


# ----------------------------------------------------------------- module tree


def test_paper_configuration_matches_the_authors_manifest() -> None:
    rows = [line.rstrip("\n").split("\t") for line in MANIFEST.read_text().splitlines()[1:]]
    expected = {key: shape for key, shape, *_ in rows}
    model = DKNet(ModelConfig.paper())
    state = model.state_dict()
    shapes = {k: ("x".join(map(str, v.shape)) or "scalar") for k, v in state.items()}
    assert list(shapes) == [key for key, *_ in rows]  # same keys, same order
    assert shapes == expected
    assert model.num_parameters() == 30_131_551


def test_batchnorm_eps_follows_the_authors() -> None:
    model = DKNet(TINY)
    eps = {name: m.eps for name, m in model.named_modules() if isinstance(m, torch.nn.BatchNorm1d)}
    towers = ("mask_branch", "kernel_branch", "merge_branch", "semantic_branch", "weight_generator")
    for name, value in eps.items():
        assert value == (1e-5 if name.startswith(towers) else 1e-4), name


def test_config_derives_decoder_size_and_rejects_bad_values() -> None:
    assert ModelConfig.paper().decoder_params == 337
    assert ModelConfig(decoder_shape=(8, 1)).decoder_params == 19 * 8 + 8 + 8 + 1
    assert ModelConfig(decoder_shape=(16, 8, 1)).decoder_params == 19 * 16 + 16 + 16 * 8 + 8 + 9
    from dknet.errors import ConfigError

    with pytest.raises(ConfigError, match="width"):
        ModelConfig(width=0)
    with pytest.raises(ConfigError, match="decoder_shape"):
        ModelConfig(decoder_shape=(16, 2))
    with pytest.raises(ConfigError, match="unknown model config keys: bogus"):
        ModelConfig.from_dict({"bogus": 1})
    assert ModelConfig.from_dict(ModelConfig.cpu().to_dict()) == ModelConfig.cpu()


# ----------------------------------------------------------------- forward pieces


def test_scene_softmax_normalises_each_scene() -> None:
    logits = torch.tensor([1.0, 2.0, 3.0, 0.5, 0.5])
    scene = torch.tensor([0, 0, 0, 1, 1])
    heat = scene_softmax(logits, scene, 2)
    assert torch.allclose(heat[:3], torch.softmax(logits[:3], 0))
    assert torch.allclose(heat[3:], torch.tensor([0.5, 0.5]))


def test_voxel_features_are_the_authors_mean_over_floor_of_scaled_coordinates(
    tiny_batch: PointBatch,
) -> None:
    from dknet.ops import voxelize

    vox = voxelize(
        tiny_batch.grid_coords, tiny_batch.ptr, voxel_size=1.0, features=tiny_batch.features
    )
    xyz = tiny_batch.coords.numpy().astype(np.float32) * np.float32(50)
    grid = np.floor(xyz - xyz.min(axis=0)).astype(np.int64)
    keys, inverse = np.unique(grid, axis=0, return_inverse=True)
    feats = tiny_batch.features.numpy()
    mean = np.zeros((keys.shape[0], 6))
    np.add.at(mean, inverse.reshape(-1), feats)
    mean /= np.bincount(inverse.reshape(-1))[:, None]
    assert vox.num_voxels == keys.shape[0]
    np.testing.assert_array_equal(vox.voxel_coords[:, 1:].numpy(), keys)
    np.testing.assert_allclose(vox.features.numpy(), mean, atol=1e-6)


def test_decoder_equals_the_per_instance_concatenation(rng: np.random.Generator) -> None:
    model = DKNet(ModelConfig(width=8, levels=2, decoder_shape=(16, 8, 1)))
    n, num = 500, 7
    params = torch.tensor(rng.normal(size=(num, model.config.decoder_params)), dtype=torch.float32)
    centers = torch.tensor(rng.normal(size=(num, 3)), dtype=torch.float32)
    feats = torch.tensor(rng.normal(size=(n, 16)), dtype=torch.float32)
    xyz = torch.tensor(rng.normal(size=(n, 3)) * 3, dtype=torch.float32)
    fast = model.decode_masks(params, centers, torch.cat((feats, xyz), 1))
    for i in range(num):  # the authors' formulation: a [F, x - c] input per instance
        h = torch.cat((feats, xyz - centers[i]), 1)
        rest = params[i]
        fan_in = 19
        for layer, fan_out in enumerate((16, 8, 1)):
            w = rest[: fan_in * fan_out].view(fan_out, fan_in)
            rest = rest[fan_in * fan_out :]
            b = rest[:fan_out]
            rest = rest[fan_out:]
            h = h @ w.t() + b
            if layer < 2:
                h = torch.relu(h)
            fan_in = fan_out
        torch.testing.assert_close(fast[i], torch.sigmoid(h[:, 0]), atol=1e-5, rtol=1e-4)


# ----------------------------------------------------------------- stages and losses


@pytest.mark.parametrize("stage", [1, 2, 3])
def test_losses_are_finite_and_named_per_stage(tiny_batch: PointBatch, stage: int) -> None:
    torch.manual_seed(0)
    losses = DKNet(TINY)(tiny_batch, stage=stage)
    expected = {1: {"semantic", "offset"}, 2: {"semantic", "offset", "heat", "merge"}}
    names = expected.get(stage, {"semantic", "offset", "heat", "merge", "mask"})
    assert set(losses) == names | {"total"}
    assert all(torch.isfinite(v) for v in losses.values())
    assert torch.isclose(losses["total"], sum(v for k, v in losses.items() if k != "total"))


def _trained_parameters(model: DKNet, batch: PointBatch, stage: int) -> set[str]:
    model.zero_grad(set_to_none=True)
    model(batch, stage=stage)["total"].backward()
    return {
        name.split(".")[0]
        for name, p in model.named_parameters()
        if p.grad is not None and bool(p.grad.abs().sum() > 0)
    }


def test_gradients_reach_exactly_the_modules_each_stage_trains(trained: DKNet, tiny_batch) -> None:
    stage1 = {"input_conv", "unet", "output_layer", "linear", "offset", "offset_linear"}
    stage2 = stage1 | {"candidate_linear", "precision_linear", "kernel_branch", "merge_branch"}
    stage3 = stage2 | {"mask_branch", "weight_generator"}
    trained = copy.deepcopy(trained).train()  # training forwards update BatchNorm statistics
    assert _trained_parameters(trained, tiny_batch, 1) == stage1
    assert _trained_parameters(trained, tiny_batch, 2) == stage2
    assert _trained_parameters(trained, tiny_batch, 3) == stage3


def test_overfitting_one_scene_drives_the_loss_down(tiny_batch: PointBatch) -> None:
    torch.manual_seed(0)
    model = DKNet(TINY)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    for _ in range(10):
        first = model(tiny_batch, stage=1)["total"]
        opt.zero_grad()
        first.backward()
        opt.step()
    history = []
    for _ in range(30):
        loss = model(tiny_batch, stage=3)["total"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        history.append(float(loss.detach()))
    assert np.mean(history[-5:]) < np.mean(history[:5]) - 0.5


def test_trained_model_finds_the_spheres(trained: DKNet, tiny_batch: PointBatch) -> None:
    (pred,) = trained.predict(tiny_batch)
    gt = tiny_batch.instance_labels.numpy()
    inst = pred.instances
    assert inst.masks.shape == (len(inst.labels), tiny_batch.num_points)
    assert pred.semantic_labels.shape == (tiny_batch.num_points,)
    # every predicted instance is a clean sphere: it lies inside one ground-truth instance
    matched = set()
    for mask in inst.masks:
        ids, counts = np.unique(gt[mask], return_counts=True)
        assert counts.max() / counts.sum() > 0.9
        matched.add(int(ids[counts.argmax()]))
    assert len(matched) >= 4
    assert np.all((inst.scores > 0.1) & (inst.scores <= 1.0))
    assert set(pred.point_instance[pred.point_instance >= 0]) <= set(range(len(inst.labels)))


def test_inference_is_deterministic_for_any_thread_count(trained: DKNet, tiny_batch) -> None:
    threads = torch.get_num_threads()
    outputs = []
    try:
        for count in (1, 2, 1):
            torch.set_num_threads(count)
            state = trained.eval().run(tiny_batch)
            (pred,) = trained.predict(tiny_batch)
            outputs.append((state.point_features, state.heat, pred))
    finally:
        torch.set_num_threads(threads)
    for features, heat, pred in outputs[1:]:
        assert torch.equal(features, outputs[0][0])
        assert torch.equal(heat, outputs[0][1])
        np.testing.assert_array_equal(pred.instances.masks, outputs[0][2].instances.masks)
        np.testing.assert_array_equal(pred.instances.scores, outputs[0][2].instances.scores)


# ----------------------------------------------------------------- the authors' bugs, fixed


def test_instance_cap_applies_per_scene_not_per_batch() -> None:
    """Authors: the first 80 instances of the *batch* were kept, so later scenes lost all."""
    config = ModelConfig(width=8, levels=3, max_instances_train=2)
    batch = PointBatch.concat([synthetic_batch(seed=1), synthetic_batch(seed=2)])
    model = _trained(batch, config, steps=(6, 6, 2))
    model.train()
    state = model.run(batch, stage=3)
    assert state.decoded is not None and len(state.decoded) == 2
    kept = [scene.masks.shape[0] for scene in state.decoded]
    assert kept == [2, 2]  # per batch, scene 2 would have had none
    g0 = state.decoded[1].group_slice.start
    assert g0 == int(state.groups.group_ptr[1])  # scene 2's own groups


def test_a_scene_without_foreground_gives_an_empty_result(tiny_batch: PointBatch) -> None:
    """Authors: a scene without candidates crashed the forward."""
    model = DKNet(TINY).eval()
    with torch.no_grad():  # make every point "wall": no foreground, no candidate
        model.linear[6].bias.fill_(0)
        model.linear[6].bias[0] = 1e4
    (pred,) = model.predict(tiny_batch)
    assert pred.instances.masks.shape == (0, tiny_batch.num_points)
    assert np.all(pred.point_instance == -1)
    assert np.all(pred.semantic_labels == 0)
    losses = model.train()(tiny_batch, stage=3)
    assert all(torch.isfinite(v) for v in losses.values())


def test_all_zero_otsu_thresholds_do_not_crash() -> None:
    """Authors: ``thres[thres != 0].min()`` raised when every threshold was 0."""
    from dknet.models.postprocess import assign_points

    masks = torch.tensor([[0.9, 0.2, 0.0], [0.1, 0.8, 0.0]])
    assignment = assign_points(masks, torch.zeros(2))
    assert assignment.tolist() == [0, 1, -1]
    # with a non-zero threshold, the smallest one is the floor for every point (authors' rule)
    assignment = assign_points(masks, torch.tensor([0.0, 0.5]))
    assert assignment.tolist() == [0, 1, -1]
    assignment = assign_points(torch.tensor([[0.3, 0.9]]), torch.tensor([0.4]))
    assert assignment.tolist() == [-1, 0]


def test_kernel_aggregation_weights_by_the_capped_size(tiny_batch: PointBatch) -> None:
    """The authors' op reports the foreground count capped at max_neighbors; the kernel is the
    size-weighted mean of the members' descriptors with those capped sizes."""
    config = ModelConfig(width=8, levels=3, max_neighbors=40, merge_threshold=0.0)
    torch.manual_seed(0)
    model = DKNet(config).eval()
    with torch.no_grad():
        state = model.run(tiny_batch)
    cands = state.candidates
    capped = cands.capped_sizes
    assert torch.all(capped <= 40) and torch.all(capped == torch.minimum(cands.sizes, capped))
    assert bool((cands.sizes > capped).any())  # the cap is active in this scene
    groups = state.groups
    fg_desc = state.candidate_vectors[:, : config.embed_dim]
    for g in range(groups.num_groups):
        members = torch.nonzero(groups.group_ids == g).view(-1)
        w = capped[members].float()
        expected = (fg_desc[members] * w[:, None]).sum(0) / w.sum()
        torch.testing.assert_close(state.kernels[g], expected, atol=1e-6, rtol=1e-5)
