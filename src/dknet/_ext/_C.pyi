# Type stubs of the compiled module dknet._ext._C (see csrc/bindings.cpp).
#
# Importing the module also registers these ops with the torch dispatcher (CUDA tensors only;
# CPU tensors raise and belong to the Numba backend of dknet.ops):
#   torch.ops.dknet.voxelize(coords, ptr, voxel_size)
#       -> (voxel_coords, point_to_voxel, voxel_to_point_ptr, voxel_to_point_idx, voxel_ptr)
#   torch.ops.dknet.mine_candidates(heat, coords, semantic, ptr, radius, local_ratio,
#       max_candidates, max_neighbors, score_threshold)
#       -> (candidate_idx, candidate_ptr, sizes, fg_ptr, fg_idx, bg_ptr, bg_idx)
#   torch.ops.dknet.merge_candidates(scores, heat, candidate_ptr, threshold)
#       -> (group_ids, centers, group_ptr)
#   torch.ops.dknet.otsu_thresholds(masks, num_bins) -> thresholds
# Shapes, dtypes and semantics: the contract in csrc/<op>/<op>.h.

from typing import TypedDict

class BuildInfo(TypedDict):
    compiler: str
    torch_version: str
    with_cuda: bool
    cuda_version: str | None
    cuda_arch_list: list[str]
    ops: list[str]

def build_info() -> BuildInfo:
    """Compiler, CUDA and torch versions, with_cuda and CUDA architectures of this build."""
