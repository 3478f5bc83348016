// The extension module dknet._ext._C: the schemas of dknet's ops (torch.ops.dknet.*), a CPU
// registration that explains where CPU tensors go, and build_info() for `dknet doctor`.
//
// The CUDA kernels are registered next to their glue (csrc/<op>/<op>.cpp). Importing the module
// runs the static registrations below; dknet.ops._backend does that lazily, on first use.
#include <torch/extension.h>
#include <torch/library.h>

#include <string>
#include <vector>

#ifdef WITH_CUDA
#include <cuda_runtime_api.h>
#endif

#ifndef TORCH_EXTENSION_NAME
#define TORCH_EXTENSION_NAME _C
#endif

namespace dknet {
namespace {

namespace py = pybind11;

// Boxed kernel for every op on the CPU dispatch key: the extension has CUDA kernels only.
void cpu_not_supported(const c10::OperatorHandle& op, torch::jit::Stack* /*stack*/) {
  TORCH_CHECK(false, op.schema().name(),
              ": the dknet extension has CUDA kernels only; CPU tensors run on Numba through "
              "dknet.ops (set DKNET_OPS_BACKEND=auto or numba)");
}

std::string compiler() {
#if defined(__clang__)
  return "clang " + std::to_string(__clang_major__) + "." + std::to_string(__clang_minor__) + "." +
         std::to_string(__clang_patchlevel__);
#elif defined(__GNUC__)
  return "GCC " + std::to_string(__GNUC__) + "." + std::to_string(__GNUC_MINOR__) + "." +
         std::to_string(__GNUC_PATCHLEVEL__);
#elif defined(_MSC_VER)
  return "MSVC " + std::to_string(_MSC_FULL_VER);
#else
  return "unknown";
#endif
}

// Architectures the kernels were compiled for, passed by setup.py as integer lists
// (DKNET_CUDA_ARCHS: SASS targets, e.g. 80,90; DKNET_CUDA_PTX_ARCHS: embedded PTX).
std::vector<std::string> arch_list() {
  std::vector<std::string> archs;
#ifdef DKNET_CUDA_ARCHS
  for (const int arch : {DKNET_CUDA_ARCHS}) archs.push_back("sm_" + std::to_string(arch));
#endif
#ifdef DKNET_CUDA_PTX_ARCHS
  for (const int arch : {DKNET_CUDA_PTX_ARCHS}) archs.push_back("compute_" + std::to_string(arch));
#endif
  return archs;
}

py::dict build_info() {
  py::dict info;
  info["compiler"] = compiler();
  info["torch_version"] = std::to_string(TORCH_VERSION_MAJOR) + "." +
                          std::to_string(TORCH_VERSION_MINOR) + "." +
                          std::to_string(TORCH_VERSION_PATCH);
#ifdef WITH_CUDA
  info["with_cuda"] = true;
  info["cuda_version"] = std::to_string(CUDART_VERSION / 1000) + "." +
                         std::to_string(CUDART_VERSION % 1000 / 10);
#else
  info["with_cuda"] = false;
  info["cuda_version"] = py::none();
#endif
  info["cuda_arch_list"] = arch_list();
  info["ops"] = std::vector<std::string>{"voxelize", "mine_candidates", "merge_candidates",
                                         "otsu_thresholds"};
  return info;
}

}  // namespace
}  // namespace dknet

TORCH_LIBRARY(dknet, m) {
  m.def(
      "voxelize(Tensor coords, Tensor ptr, float voxel_size) -> (Tensor, Tensor, Tensor, Tensor, "
      "Tensor)");
  m.def(
      "mine_candidates(Tensor heat, Tensor coords, Tensor semantic, Tensor ptr, float radius, "
      "float local_ratio, int max_candidates, int max_neighbors, float score_threshold) -> "
      "(Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor)");
  m.def(
      "merge_candidates(Tensor scores, Tensor heat, Tensor candidate_ptr, float threshold) -> "
      "(Tensor, Tensor, Tensor)");
  m.def("otsu_thresholds(Tensor masks, int num_bins) -> Tensor");
}

TORCH_LIBRARY_IMPL(dknet, CPU, m) {
  for (const char* name : {"voxelize", "mine_candidates", "merge_candidates", "otsu_thresholds"}) {
    m.impl(name, torch::CppFunction::makeFromBoxedFunction<&dknet::cpu_not_supported>());
  }
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "dknet's compiled CUDA ops (torch.ops.dknet.*) and their build information.";
  m.def("build_info", &dknet::build_info,
        "Compiler, CUDA and torch versions, with_cuda and CUDA architectures of this build.");
}
