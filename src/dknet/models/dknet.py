"""The DKNet network: backbone, heads, candidate mining and merging, kernels, dynamic decoding.

``DKNet(config)`` holds exactly the authors' module tree (see :mod:`dknet.models.backbone` and
:mod:`dknet.models.heads`), so their checkpoint loads into :meth:`ModelConfig.paper` unchanged.
Two entry points:

* ``model(batch, stage=...)`` (training): a dict of named losses for the stage
  (:mod:`dknet.models.losses`);
* ``model.predict(batch)`` (inference): one :class:`ScenePrediction` per scene, with binary
  instance masks over the input points, nyu40 labels and scores, plus the semantic prediction.

The pipeline follows ALGORITHM.md sections 3-8 and the authors' code. Where dknet deliberately
differs, the difference is a fix or a choice that the authors' code leaves to chance:

* the 80-instance training cap applies per scene (theirs per batch, so later scenes lost all);
* a scene without foreground points or candidates, or whose Otsu thresholds are all 0, gives an
  empty result instead of crashing;
* mining keeps the nearest 2000 neighbours (theirs depended on GPU thread timing) and never
  copies between host and device per candidate (see :func:`dknet.ops.mine_candidates`);
* the empty-background fallback descriptor is the mean over the scene's foreground points (the
  authors' mean runs over the whole batch, which is the same at test time, batch 1);
* merge scores are computed for pairs of the same scene only (theirs for all pairs of the batch,
  then zeroed across scenes), so training BatchNorm statistics see only real pairs;
* masks are decoded per scene over that scene's points, with the first decoder layer split as
  ``W1 [F_m; x - c] = [W1_f, W1_x] [F_m; x] - W1_x c`` so no per-instance copy of the
  19-channel input is made, and in chunks of instances at inference to bound memory.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from dknet.data.batch import PointBatch
from dknet.labels import MIN_INSTANCE_SEMANTIC
from dknet.models.backbone import UNet, backbone_norm, sparse_convs
from dknet.models.config import ModelConfig
from dknet.models.heads import (
    WeightGenerator,
    conv_tower,
    heat_head,
    offset_trunk,
    semantic_head,
)
from dknet.models.postprocess import (
    DecodedScene,
    ScenePrediction,
    assign_points,
    postprocess_scene,
    vote_classes,
)
from dknet.models.spconv_compat import conv_algo, ensure_spconv_compat
from dknet.ops import Candidates, Groups, merge_candidates, mine_candidates, voxelize

__all__ = ["DKNet", "ForwardState", "STAGES", "StageMark", "scene_softmax"]

logger = logging.getLogger(__name__)

#: Training stages: 1 semantic + offset; 2 + heat map and merge scores; 3 everything.
STAGES = (1, 2, 3)

#: Called with a stage name ("backbone", "encoding", "decoding", "postprocess") as it ends.
StageMark = Callable[[str], None]


def _no_mark(_: str) -> None:
    return None


@dataclass
class ForwardState:
    """Everything one forward computes, for losses, post-processing and tests.

    Point tensors are over the batch's N points; ``fg_*`` tensors over the F predicted-foreground
    points (``fg_idx`` maps them to points); candidate tensors over the K candidates; group
    tensors over the G merged instances. Fields of later stages are None when not computed.
    """

    point_features: torch.Tensor  # (N, m)
    semantic_logits: torch.Tensor  # (N, C)
    offsets: torch.Tensor  # (N, 3)
    scene_of_point: torch.Tensor  # (N,) int64
    semantic_pred: torch.Tensor | None = None  # (N,) int64
    fg_idx: torch.Tensor | None = None  # (F,) int64
    fg_ptr: torch.Tensor | None = None  # (B+1,) int64
    heat_logits: torch.Tensor | None = None  # (F,)
    heat: torch.Tensor | None = None  # (F,) per-scene softmax
    mask_features: torch.Tensor | None = None  # (N, embed)
    kernel_features: torch.Tensor | None = None  # (N, embed)
    candidates: Candidates | None = None  # indices into the foreground arrays
    candidate_vectors: torch.Tensor | None = None  # (K, 2 * embed + 3)
    merge_blocks: list[torch.Tensor] | None = None  # per scene (k_b, k_b) sigmoid scores
    groups: Groups | None = None
    kernels: torch.Tensor | None = None  # (G, embed)
    center_points: torch.Tensor | None = None  # (G,) int64 point index of each centre
    decoded: list[DecodedScene] | None = None


def _segment_ids(ptr: torch.Tensor) -> torch.Tensor:
    """(total,) segment index of every element of a CSR ``ptr``."""
    counts = ptr[1:] - ptr[:-1]
    return torch.repeat_interleave(torch.arange(counts.shape[0], device=ptr.device), counts)


def _ptr_from_counts(counts: torch.Tensor) -> torch.Tensor:
    return torch.cat([counts.new_zeros(1), torch.cumsum(counts, 0)])


def scene_softmax(logits: torch.Tensor, segment: torch.Tensor, num_segments: int) -> torch.Tensor:
    """Softmax of (F,) ``logits`` within each segment (scene), in float32."""
    logits = logits.float()
    if logits.numel() == 0:
        return logits
    seg_max = torch.full((num_segments,), -torch.inf, device=logits.device).scatter_reduce(
        0, segment, logits.detach(), reduce="amax", include_self=True
    )
    exp = torch.exp(logits - seg_max[segment])
    sums = exp.new_zeros(num_segments).index_add(0, segment, exp)
    return exp / sums[segment]


class DKNet(nn.Module):
    """DKNet (ECCV 2022) with the authors' module names.

    Args:
        config: the network's shape and inference parameters.
    """

    def __init__(self, config: ModelConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or ModelConfig.paper()
        spconv = ensure_spconv_compat()
        m = config.width
        e = config.embed_dim
        # Registration order = the authors' (it fixes parameter order for optimizer states).
        self.input_conv = spconv.SparseSequential(
            spconv.SubMConv3d(
                config.in_channels, m, kernel_size=3, padding=1, bias=False, indice_key="subm1"
            )
        )
        self.unet = UNet(config.channels, config.blocks_per_level)
        self.output_layer = spconv.SparseSequential(backbone_norm(m), nn.ReLU())
        self.linear = semantic_head(m, config.num_classes)
        self.offset = offset_trunk(m)
        self.offset_linear = nn.Linear(m, 3)
        self.candidate_linear = heat_head(m)
        self.precision_linear = nn.Linear(m, 1)
        # Never called, by the authors either; kept so their checkpoint loads with strict=True.
        self.recall_linear = nn.Linear(m, 1)
        self.mask_branch = conv_tower(m, e)
        self.kernel_branch = conv_tower(m, e)
        self.merge_branch = conv_tower(2 * e + 3, 1)
        # Never called either (an unused 16 -> C tower of the authors' model); kept for loading.
        self.semantic_branch = conv_tower(e, config.num_classes)
        self.weight_generator = WeightGenerator(e, config.decoder_params)
        for module in self.modules():
            if isinstance(module, nn.BatchNorm1d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        self._algo_device: str | None = None

    # ------------------------------------------------------------------ helpers

    def _sync_conv_algo(self, device: torch.device) -> None:
        """Native convolutions on CPU, spconv's default implicit GEMM on CUDA (same weights)."""
        if self._algo_device == device.type:
            return
        algo = conv_algo(device)
        for conv in sparse_convs(self):
            conv.algo = algo
        self._algo_device = device.type

    def backbone(self, batch: PointBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """Voxel pooling + U-Net: (N, m) point features and (N,) scene index per point."""
        spconv = ensure_spconv_compat()
        device = batch.device
        self._sync_conv_algo(device)
        vox = voxelize(batch.grid_coords, batch.ptr, voxel_size=1.0, features=batch.features)
        assert vox.features is not None
        scene_of_point = _segment_ids(batch.ptr)
        if vox.num_voxels:
            extent = (vox.voxel_coords[:, 1:].amax(dim=0) + 1).tolist()
        else:
            extent = [1, 1, 1]
        spatial_shape = [max(int(v), self.config.min_spatial_shape) for v in extent]
        tensor = spconv.SparseConvTensor(
            vox.features.float(), vox.voxel_coords, spatial_shape, batch.num_scenes
        )
        out = self.output_layer(self.unet(self.input_conv(tensor)))
        return out.features[vox.point_to_voxel], scene_of_point

    # ------------------------------------------------------------------ forward

    def run(
        self, batch: PointBatch, *, stage: int = 3, mark: StageMark | None = None
    ) -> ForwardState:
        """Compute every intermediate of ``stage`` (1, 2 or 3; inference uses 3).

        In training mode (``self.training``) stage 3 keeps at most
        ``config.max_instances_train`` instances per scene.

        Args:
            batch: the packed scenes.
            stage: which parts to run.
            mark: optional callback called with "backbone" (voxel pooling, U-Net, semantic
                and offset heads), "encoding" (heat map, mining, description, merging,
                kernels) and "decoding" (weight generation, dynamic convolution, Otsu,
                assignment) as each part ends; ``dknet timing`` synchronises the device and
                reads a clock there.
        """
        mark = mark or _no_mark
        if stage not in STAGES:
            raise ValueError(f"stage must be one of {STAGES}, got {stage}")
        features, scene_of_point = self.backbone(batch)
        # Everything after the backbone is cheap and precision-sensitive (softmax over a
        # scene, mining, Otsu): it runs in float32 even under autocast.
        with torch.autocast(device_type=batch.device.type, enabled=False):
            return self._heads(batch, features.float(), scene_of_point, stage, mark)

    def _heads(
        self,
        batch: PointBatch,
        features: torch.Tensor,
        scene_of_point: torch.Tensor,
        stage: int,
        mark: StageMark,
    ) -> ForwardState:
        cfg = self.config
        semantic_logits = self.linear(features)
        offsets = self.offset_linear(self.offset(features))
        state = ForwardState(
            point_features=features,
            semantic_logits=semantic_logits,
            offsets=offsets,
            scene_of_point=scene_of_point,
        )
        mark("backbone")
        if stage == 1:
            return state

        num_scenes = batch.num_scenes
        semantic_pred = semantic_logits.detach().argmax(dim=1)
        fg_idx = torch.nonzero(semantic_pred >= MIN_INSTANCE_SEMANTIC).view(-1)
        fg_scene = scene_of_point[fg_idx]
        fg_ptr = _ptr_from_counts(torch.bincount(fg_scene, minlength=num_scenes))
        heat_input = torch.cat((features[fg_idx], offsets[fg_idx]), dim=1)
        if fg_idx.numel() >= 2 or not self.training:
            heat_logits = self.precision_linear(self.candidate_linear(heat_input)).view(-1)
        else:  # BatchNorm cannot train on fewer than two rows
            heat_logits = features.new_zeros(fg_idx.shape[0])
        heat = scene_softmax(heat_logits, fg_scene, num_scenes)
        state.semantic_pred = semantic_pred
        state.fg_idx = fg_idx
        state.fg_ptr = fg_ptr
        state.heat_logits = heat_logits
        state.heat = heat

        fg_coords = batch.coords[fg_idx]
        candidates = mine_candidates(
            heat.detach(),
            fg_coords,
            semantic_pred[fg_idx],
            fg_ptr,
            radius=cfg.mining_radius,
            local_ratio=cfg.local_ratio,
            max_candidates=cfg.max_candidates,
            max_neighbors=cfg.max_neighbors,
            score_threshold=cfg.score_threshold,
        )
        state.candidates = candidates
        kernel_features = self.kernel_branch(features)
        state.kernel_features = kernel_features
        if stage == 3:
            state.mask_features = self.mask_branch(features)
        k = candidates.num_candidates
        if k == 0:
            state.merge_blocks = [features.new_zeros((0, 0)) for _ in range(num_scenes)]
            mark("encoding")
            mark("decoding")
            return state

        fg_kernel = kernel_features[fg_idx]
        fg_desc = _list_mean(fg_kernel, candidates.fg_ptr, candidates.fg_idx, k)
        bg_desc = _list_mean(fg_kernel, candidates.bg_ptr, candidates.bg_idx, k)
        # An empty background list falls back to the mean over the scene's foreground points.
        cand_scene = _segment_ids(candidates.candidate_ptr)
        scene_sum = fg_kernel.new_zeros((num_scenes, fg_kernel.shape[1])).index_add(
            0, fg_scene, fg_kernel
        )
        scene_mean = (scene_sum / (fg_ptr[1:] - fg_ptr[:-1]).clamp(min=1).unsqueeze(1)).detach()
        bg_empty = (candidates.bg_ptr[1:] - candidates.bg_ptr[:-1]) == 0
        bg_desc = torch.where(bg_empty.unsqueeze(1), scene_mean[cand_scene], bg_desc)
        position = (fg_coords + offsets[fg_idx])[candidates.candidate_idx]
        vectors = torch.cat((fg_desc, bg_desc, position), dim=1)
        state.candidate_vectors = vectors
        state.merge_blocks = self._merge_scores(vectors, candidates.candidate_ptr)
        if stage == 2:
            return state

        scores_full = _block_diagonal(state.merge_blocks, candidates.candidate_ptr, k)
        cand_heat = heat.detach()[candidates.candidate_idx]
        groups = merge_candidates(
            scores_full, cand_heat, candidates.candidate_ptr, threshold=cfg.merge_threshold
        )
        state.groups = groups
        # Kernel = mean of the members' foreground descriptors weighted by their sizes; the
        # size is the *capped* foreground count (the list length), as the authors' op reports.
        weights = candidates.capped_sizes.to(fg_desc.dtype)
        num_groups = groups.num_groups
        weighted = fg_desc.new_zeros((num_groups, fg_desc.shape[1])).index_add(
            0, groups.group_ids, fg_desc * weights.unsqueeze(1)
        )
        totals = weights.new_zeros(num_groups).index_add(0, groups.group_ids, weights)
        state.kernels = weighted / totals.unsqueeze(1)
        state.center_points = fg_idx[candidates.candidate_idx[groups.centers]]
        mark("encoding")
        state.decoded = self._decode(batch, state)
        mark("decoding")
        return state

    def _merge_scores(
        self, vectors: torch.Tensor, candidate_ptr: torch.Tensor
    ) -> list[torch.Tensor]:
        """Sigmoid merge scores of every pair of candidates of the same scene."""
        bounds = candidate_ptr.tolist()
        pairs = []
        sizes = []
        for b in range(len(bounds) - 1):
            v = vectors[bounds[b] : bounds[b + 1]]
            sizes.append(v.shape[0])
            pairs.append(
                torch.clamp((v.unsqueeze(1) - v.unsqueeze(0)).abs(), min=1e-6).flatten(0, 1)
            )
        stacked = torch.cat(pairs)
        if stacked.shape[0] < 2 and self.training:
            logits = stacked.new_zeros((stacked.shape[0], 1))
        else:
            logits = self.merge_branch(stacked)
        scores = torch.sigmoid(logits.float()).view(-1)
        out = []
        start = 0
        for size in sizes:
            out.append(scores[start : start + size * size].view(size, size))
            start += size * size
        return out

    def _decode(self, batch: PointBatch, state: ForwardState) -> list[DecodedScene]:
        """Weight generation, dynamic convolution, Otsu and assignment, scene by scene."""
        from dknet.ops import otsu_thresholds

        cfg = self.config
        groups = state.groups
        assert groups is not None and state.kernels is not None
        assert state.mask_features is not None and state.center_points is not None
        assert state.semantic_pred is not None
        group_bounds = groups.group_ptr.tolist()
        point_bounds = batch.ptr.tolist()
        kernels = state.kernels
        num_kernels = kernels.shape[0]
        if num_kernels >= 2 or not self.training:
            params_all = self.weight_generator(kernels) if num_kernels else None
        else:
            params_all = None
        decoded = []
        for b in range(batch.num_scenes):
            g0, g1 = group_bounds[b], group_bounds[b + 1]
            if self.training:
                g1 = min(g1, g0 + cfg.max_instances_train)
            p0, p1 = point_bounds[b], point_bounds[b + 1]
            n_b = p1 - p0
            if params_all is None or g1 <= g0:
                empty = state.mask_features.new_zeros((0, n_b))
                decoded.append(
                    DecodedScene(
                        group_slice=slice(g0, g0),
                        masks=empty,
                        thresholds=empty.new_zeros(0),
                        assignment=torch.full((n_b,), -1, dtype=torch.int64, device=empty.device),
                        classes=torch.zeros(0, dtype=torch.int64, device=empty.device),
                    )
                )
                continue
            params = params_all[g0:g1]
            centers = batch.coords[state.center_points[g0:g1]]
            inputs = torch.cat((state.mask_features[p0:p1], batch.coords[p0:p1]), dim=1)
            block = None if self.training else cfg.decode_block_size
            masks = self.decode_masks(params, centers, inputs, block_size=block)
            thresholds = otsu_thresholds(masks.detach(), num_bins=cfg.otsu_bins)
            thresholded = torch.where(masks.detach() < thresholds.unsqueeze(1), 0.0, masks.detach())
            assignment = assign_points(thresholded, thresholds)
            sem = state.semantic_pred[p0:p1]
            fg = sem >= MIN_INSTANCE_SEMANTIC
            classes = vote_classes(assignment[fg], sem[fg], g1 - g0, cfg.num_classes)
            decoded.append(
                DecodedScene(
                    group_slice=slice(g0, g1),
                    masks=masks,
                    thresholds=thresholds,
                    assignment=assignment,
                    classes=classes,
                )
            )
        return decoded

    def decode_masks(
        self,
        params: torch.Tensor,
        centers: torch.Tensor,
        inputs: torch.Tensor,
        *,
        block_size: int | None = None,
    ) -> torch.Tensor:
        """Dynamic convolution of I instances over the points of one scene.

        The first layer of every instance is one GEMM for all instances at once,
        ``[F_m, x] (N x 19) @ W1^T (19 x I*h)``, with the centre folded into the bias
        (``W1 (x - c) = W1 x - W1 c``); later layers are per-instance products on the
        (points, I, h) activations. With ``block_size`` the points are processed in blocks of
        about ``block_size`` hidden activations, so memory stays bounded on big scenes.

        Args:
            params: (I, L) generated decoder parameters, laid out per layer as W (out x in,
                row-major) then b; the first layer's input is [mask features, xyz - centre].
            centers: (I, 3) raw xyz of each instance's centre candidate.
            inputs: (N, embed + 3) [mask features, xyz] of the scene's points.
            block_size: hidden activations per block (None: all points at once).

        Returns:
            (I, N) soft masks (sigmoid), float32.
        """
        params = params.float()
        inputs = inputs.float()
        num = params.shape[0]
        n = inputs.shape[0]
        fan_in = inputs.shape[1]
        layers: list[tuple[torch.Tensor, torch.Tensor]] = []
        offset = 0
        for fan_out in self.config.decoder_shape:
            w = params[:, offset : offset + fan_in * fan_out].view(num, fan_out, fan_in)
            offset += fan_in * fan_out
            layers.append((w, params[:, offset : offset + fan_out]))
            offset += fan_out
            fan_in = fan_out
        w1, b1 = layers[0]
        hidden = w1.shape[1]
        b1 = b1 - torch.bmm(w1[:, :, -3:], centers.float().unsqueeze(2)).squeeze(2)
        first = w1.reshape(num * hidden, -1).t()  # (19, I*h)
        first_bias = b1.reshape(-1)

        def block(x: torch.Tensor) -> torch.Tensor:
            h = torch.addmm(first_bias, x, first).view(x.shape[0], num, hidden)
            for w, b in layers[1:-1]:
                h = torch.einsum("nik,ijk->nij", torch.relu(h), w) + b
            w, b = layers[-1]  # one output per instance: a per-instance dot product
            h = torch.relu(h) if torch.is_grad_enabled() else h.relu_()
            return (h * w[:, 0, :]).sum(dim=2) + b[:, 0]

        if num == 0 or n == 0:
            return params.new_zeros((num, n))
        step = n if block_size is None else max(256, block_size // max(num * hidden, 1))
        logits = torch.cat([block(inputs[i : i + step]) for i in range(0, n, step)])
        return torch.sigmoid(logits).t().contiguous()

    def forward(self, batch: PointBatch, *, stage: int = 3) -> dict[str, torch.Tensor]:
        """Training forward: the named losses of ``stage`` (see :mod:`dknet.models.losses`)."""
        from dknet.models.losses import compute_losses

        state = self.run(batch, stage=stage)
        return compute_losses(state, batch, stage=stage, config=self.config)

    # ------------------------------------------------------------------ inference

    @torch.no_grad()
    def predict(
        self,
        batch: PointBatch,
        *,
        use_superpoints: bool = True,
        mark: StageMark | None = None,
    ) -> list[ScenePrediction]:
        """Instances and semantic labels for every scene of ``batch`` (ALGORITHM.md section 8).

        Runs in eval mode whatever the module's mode (and restores it). Superpoint refinement
        runs when ``batch.superpoints`` is given and ``use_superpoints``. ``mark`` is called at
        the end of each stage as in :meth:`run`, then with "postprocess".
        """
        was_training = self.training
        self.eval()
        try:
            state = self.run(batch, stage=3, mark=mark)
        finally:
            self.train(was_training)
        probs = torch.softmax(state.semantic_logits.float(), dim=1)
        assert state.semantic_pred is not None
        bounds = batch.ptr.tolist()
        results = []
        for b in range(batch.num_scenes):
            p0, p1 = bounds[b], bounds[b + 1]
            superpoints = None
            if use_superpoints and batch.superpoints is not None:
                superpoints = batch.superpoints[p0:p1]
            decoded = state.decoded[b] if state.decoded is not None else None
            results.append(
                postprocess_scene(
                    batch.scene_ids[b],
                    decoded,
                    probs[p0:p1],
                    state.semantic_pred[p0:p1],
                    superpoints,
                    self.config,
                )
            )
        if mark is not None:
            mark("postprocess")
        return results

    def extra_repr(self) -> str:
        return f"config={self.config}"

    def num_parameters(self) -> int:
        """Parameter count (30,131,551 for the paper configuration)."""
        return sum(p.numel() for p in self.parameters())

    def state_summary(self) -> dict[str, Any]:
        """Config and parameter count, for logs."""
        return {"config": self.config.to_dict(), "parameters": self.num_parameters()}


def _list_mean(
    values: torch.Tensor, list_ptr: torch.Tensor, list_idx: torch.Tensor, num_lists: int
) -> torch.Tensor:
    """Mean of ``values`` rows over each CSR list (0 for an empty list)."""
    owner = _segment_ids(list_ptr)
    sums = values.new_zeros((num_lists, values.shape[1])).index_add(0, owner, values[list_idx])
    counts = (list_ptr[1:] - list_ptr[:-1]).clamp(min=1).to(values.dtype)
    return sums / counts.unsqueeze(1)


def _block_diagonal(blocks: list[torch.Tensor], ptr: torch.Tensor, k: int) -> torch.Tensor:
    """(K, K) matrix with each scene's block on the diagonal and 0 elsewhere (detached)."""
    full = blocks[0].new_zeros((k, k)) if blocks else torch.zeros((k, k))
    bounds = ptr.tolist()
    for b, block in enumerate(blocks):
        full[bounds[b] : bounds[b + 1], bounds[b] : bounds[b + 1]] = block.detach()
    return full
