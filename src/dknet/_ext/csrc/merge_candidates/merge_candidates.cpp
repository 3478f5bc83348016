// Torch glue of dknet::merge_candidates: argument checks, output allocation, launch on the
// current stream (kernels and contract in merge_candidates.h / merge_candidates_cuda.cu).
#include <torch/library.h>

#include <tuple>

#include "common/torch_utils.h"
#ifdef WITH_CUDA
#include "merge_candidates/merge_candidates.h"
#endif

namespace dknet {
namespace {

using at::Tensor;

#ifdef WITH_CUDA
std::tuple<Tensor, Tensor, Tensor> merge_candidates_cuda(const Tensor& scores, const Tensor& heat,
                                                         const Tensor& candidate_ptr,
                                                         double threshold) {
  constexpr const char* op = "merge_candidates";
  const at::Device device = scores.device();
  check_arg(op, "scores", scores, at::kFloat, 2, device);
  check_arg(op, "heat", heat, at::kFloat, 1, device);
  check_arg(op, "candidate_ptr", candidate_ptr, at::kLong, 1, device);
  const int64_t k = heat.size(0);
  TORCH_CHECK(scores.size(0) == k && scores.size(1) == k,
              "dknet::merge_candidates: scores must have shape (K, K) with K = ", k,
              " candidates, got ", scores.sizes());
  TORCH_CHECK(candidate_ptr.size(0) >= 1,
              "dknet::merge_candidates: candidate_ptr must have B + 1 >= 1 entries");
  const int64_t b = candidate_ptr.size(0) - 1;
  check_count(op, "K", k);
  TORCH_CHECK(k == 0 || b > 0, "dknet::merge_candidates: ", k,
              " candidates but candidate_ptr describes no scene");

  const c10::cuda::CUDAGuard guard(device);
  const at::TensorOptions index_options = candidate_ptr.options();
  if (k == 0) {
    return {at::empty({0}, index_options), at::empty({0}, index_options),
            at::zeros({b + 1}, index_options)};
  }
  const cudaStream_t stream = current_stream();
  const merge_candidates::Problem problem{scores.data_ptr<float>(),
                                          heat.data_ptr<float>(),
                                          candidate_ptr.data_ptr<int64_t>(),
                                          k,
                                          b,
                                          static_cast<float>(threshold)};
  Tensor scratch = workspace(scores, merge_candidates::workspace_bytes(k));
  int64_t num_groups = 0;
  check_cuda(merge_candidates::find_groups(problem, scratch.data_ptr(), stream, &num_groups), op);
  Tensor group_ids = at::empty({k}, index_options);
  Tensor centers = at::empty({num_groups}, index_options);
  Tensor group_ptr = at::empty({b + 1}, index_options);
  const merge_candidates::Outputs outputs{group_ids.data_ptr<int64_t>(),
                                          centers.data_ptr<int64_t>(),
                                          group_ptr.data_ptr<int64_t>()};
  check_cuda(
      merge_candidates::write_groups(problem, num_groups, outputs, scratch.data_ptr(), stream),
      op);
  return {group_ids, centers, group_ptr};
}
#else
std::tuple<Tensor, Tensor, Tensor> merge_candidates_cuda(const Tensor&, const Tensor&,
                                                         const Tensor&, double) {
  TORCH_CHECK(false, kBuiltWithoutCuda);
}
#endif

}  // namespace
}  // namespace dknet

TORCH_LIBRARY_IMPL(dknet, CUDA, m) { m.impl("merge_candidates", &dknet::merge_candidates_cuda); }
