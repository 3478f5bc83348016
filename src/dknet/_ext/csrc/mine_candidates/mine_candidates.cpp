// Torch glue of dknet::mine_candidates: argument checks, output allocation, launch on the
// current stream (kernels and contract in mine_candidates.h / mine_candidates_cuda.cu).
#include <torch/library.h>

#include <cmath>
#include <tuple>

#include "common/torch_utils.h"
#ifdef WITH_CUDA
#include "mine_candidates/mine_candidates.h"
#endif

namespace dknet {
namespace {

using at::Tensor;
using Mined = std::tuple<Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor>;

#ifdef WITH_CUDA
Mined mine_candidates_cuda(const Tensor& heat, const Tensor& coords, const Tensor& semantic,
                           const Tensor& ptr, double radius, double local_ratio,
                           int64_t max_candidates, int64_t max_neighbors,
                           double score_threshold) {
  constexpr const char* op = "mine_candidates";
  const at::Device device = heat.device();
  check_arg(op, "heat", heat, at::kFloat, 1, device);
  check_arg(op, "coords", coords, at::kFloat, 2, device);
  check_arg(op, "semantic", semantic, at::kLong, 1, device);
  check_arg(op, "ptr", ptr, at::kLong, 1, device);
  const int64_t n = heat.size(0);
  TORCH_CHECK(coords.size(0) == n && coords.size(1) == 3,
              "dknet::mine_candidates: coords must have shape (N, 3) with N = ", n, ", got ",
              coords.sizes());
  TORCH_CHECK(semantic.size(0) == n, "dknet::mine_candidates: semantic must have N = ", n,
              " entries, got ", semantic.size(0));
  TORCH_CHECK(ptr.size(0) >= 1, "dknet::mine_candidates: ptr must have B + 1 >= 1 entries");
  const float radius_f32 = static_cast<float>(radius);
  TORCH_CHECK(std::isfinite(radius_f32) && radius_f32 * radius_f32 > 0.0f,
              "dknet::mine_candidates: radius must be positive and finite, got ", radius);
  TORCH_CHECK(max_candidates >= 0 && max_neighbors >= 0,
              "dknet::mine_candidates: max_candidates and max_neighbors must be >= 0, got ",
              max_candidates, " and ", max_neighbors);
  const int64_t b = ptr.size(0) - 1;
  check_count(op, "N", n);
  TORCH_CHECK(n == 0 || b > 0, "dknet::mine_candidates: ", n,
              " points but ptr describes no scene");

  const c10::cuda::CUDAGuard guard(device);
  const at::TensorOptions index_options = ptr.options();
  // One device->host read of the largest scene size, before any launch (never inside the
  // candidate loop); it bounds the per-scene candidate slots of the workspace.
  const int64_t largest_scene =
      n == 0 ? 0 : (ptr.slice(0, 1) - ptr.slice(0, 0, b)).max().item<int64_t>();
  const mine_candidates::Problem problem{heat.data_ptr<float>(),
                                         coords.data_ptr<float>(),
                                         semantic.data_ptr<int64_t>(),
                                         ptr.data_ptr<int64_t>(),
                                         n,
                                         b,
                                         radius_f32,
                                         static_cast<float>(local_ratio),
                                         static_cast<float>(score_threshold),
                                         max_candidates,
                                         max_neighbors,
                                         largest_scene};
  // The slot prefix sums run through cub with an int item count: B * slots must fit in int32
  // (otherwise the cast in the launcher would wrap instead of failing clearly).
  if (n > 0) {
    check_count(op, "B * min(max_candidates, largest scene)",
                b * mine_candidates::slots_per_scene(problem));
  }
  if (n == 0 || mine_candidates::slots_per_scene(problem) == 0) {
    const Tensor none = at::empty({0}, index_options);
    const Tensor one_zero = at::zeros({1}, index_options);
    return {none, at::zeros({b + 1}, index_options), none.clone(), one_zero, none.clone(),
            one_zero.clone(), none.clone()};
  }
  const cudaStream_t stream = current_stream();
  Tensor scratch = workspace(heat, mine_candidates::workspace_bytes(problem));
  mine_candidates::Totals totals{};
  check_cuda(mine_candidates::search(problem, scratch.data_ptr(), stream, &totals), op);
  const int64_t k = totals.num_candidates;
  Tensor candidate_idx = at::empty({k}, index_options);
  Tensor candidate_ptr = at::empty({b + 1}, index_options);
  Tensor sizes = at::empty({k}, index_options);
  Tensor fg_ptr = at::empty({k + 1}, index_options);
  Tensor fg_idx = at::empty({totals.num_fg}, index_options);
  Tensor bg_ptr = at::empty({k + 1}, index_options);
  Tensor bg_idx = at::empty({totals.num_bg}, index_options);
  const mine_candidates::Outputs outputs{
      candidate_idx.data_ptr<int64_t>(), candidate_ptr.data_ptr<int64_t>(),
      sizes.data_ptr<int64_t>(),         fg_ptr.data_ptr<int64_t>(),
      fg_idx.data_ptr<int64_t>(),        bg_ptr.data_ptr<int64_t>(),
      bg_idx.data_ptr<int64_t>()};
  check_cuda(
      mine_candidates::write_outputs(problem, totals, outputs, scratch.data_ptr(), stream), op);
  return {candidate_idx, candidate_ptr, sizes, fg_ptr, fg_idx, bg_ptr, bg_idx};
}
#else
Mined mine_candidates_cuda(const Tensor&, const Tensor&, const Tensor&, const Tensor&, double,
                           double, int64_t, int64_t, double) {
  TORCH_CHECK(false, kBuiltWithoutCuda);
}
#endif

}  // namespace
}  // namespace dknet

TORCH_LIBRARY_IMPL(dknet, CUDA, m) { m.impl("mine_candidates", &dknet::mine_candidates_cuda); }
