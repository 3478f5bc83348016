// CUDA kernels of dknet::mine_candidates (contract in mine_candidates.h).
#include "mine_candidates/mine_candidates.h"

#include <cub/block/block_reduce.cuh>
#include <cub/block/block_scan.cuh>
#include <cub/device/device_radix_sort.cuh>
#include <cub/device/device_scan.cuh>

#include <climits>

#include "common/cuda_utils.cuh"

namespace dknet {
namespace mine_candidates {
namespace {

constexpr int kThreads = 256;
constexpr std::int64_t kMaxBlocks = 4096;
// The candidate loop is sequential within a scene, so each scene gets one large block.
constexpr int kSearchThreads = 1024;
constexpr int kListThreads = 256;
constexpr unsigned long long kNoLimit = ~0ull;

struct Layout {
  unsigned long long* keys_in;   // (N,) sort keys (x order, then heat order)
  unsigned long long* keys_out;  // (N,)
  int* identity;                 // (N,) 0..N-1
  int* x_order;                  // (N,) point at each x-sorted position
  int* visit_order;              // (N,) points by (scene, decreasing heat, index)
  int* position_of;              // (N,) x-sorted position of each point
  int* visit_position;           // (N,) x-sorted position of each visited point
  float4* points;                // (N,) (x, y, z, heat) in x order
  long long* classes;            // (N,) semantic class in x order
  unsigned char* suppressed;     // (N,) by x-sorted position
  unsigned long long* fg_keys;   // (N,) scratch: F keys of the current candidate, per scene
  unsigned long long* bg_keys;   // (N,) scratch: G keys
  long long* slot_point;         // (S,) accepted candidate (global index)
  long long* slot_size;          // (S,) |F|
  long long* slot_bg;            // (S,) |G|
  unsigned long long* slot_fg_limit;  // (S,) largest kept F key (kNoLimit when uncapped)
  unsigned long long* slot_bg_limit;  // (S,) largest kept G key
  long long* num_accepted;       // (B,)
  long long* cand_len;           // (S,) 1 for a used slot
  long long* fg_len;             // (S,) min(|F|, cap) of a used slot, else 0
  long long* bg_len;             // (S,)
  long long* cand_end;           // (S,) inclusive prefix sums of the three above
  long long* fg_end;
  long long* bg_end;
  Totals* totals;
  void* cub_temp;
  std::size_t cub_bytes;
  std::size_t total_bytes;
};

Layout carve(void* base, std::int64_t n, std::int64_t b, std::int64_t slots) {
  const std::int64_t s = b * slots;
  std::size_t sort_bytes = 0;
  std::size_t scan_bytes = 0;
  cub::DeviceRadixSort::SortPairs(nullptr, sort_bytes, static_cast<unsigned long long*>(nullptr),
                                  static_cast<unsigned long long*>(nullptr),
                                  static_cast<int*>(nullptr), static_cast<int*>(nullptr),
                                  static_cast<int>(n));
  cub::DeviceScan::InclusiveSum(nullptr, scan_bytes, static_cast<long long*>(nullptr),
                                static_cast<long long*>(nullptr), static_cast<int>(s));
  WorkspaceCarver carver(base);
  Layout layout{};
  layout.keys_in = carver.take<unsigned long long>(n);
  layout.keys_out = carver.take<unsigned long long>(n);
  layout.identity = carver.take<int>(n);
  layout.x_order = carver.take<int>(n);
  layout.visit_order = carver.take<int>(n);
  layout.position_of = carver.take<int>(n);
  layout.visit_position = carver.take<int>(n);
  layout.points = carver.take<float4>(n);
  layout.classes = carver.take<long long>(n);
  layout.suppressed = carver.take<unsigned char>(n);
  layout.fg_keys = carver.take<unsigned long long>(n);
  layout.bg_keys = carver.take<unsigned long long>(n);
  layout.slot_point = carver.take<long long>(s);
  layout.slot_size = carver.take<long long>(s);
  layout.slot_bg = carver.take<long long>(s);
  layout.slot_fg_limit = carver.take<unsigned long long>(s);
  layout.slot_bg_limit = carver.take<unsigned long long>(s);
  layout.num_accepted = carver.take<long long>(b);
  layout.cand_len = carver.take<long long>(s);
  layout.fg_len = carver.take<long long>(s);
  layout.bg_len = carver.take<long long>(s);
  layout.cand_end = carver.take<long long>(s);
  layout.fg_end = carver.take<long long>(s);
  layout.bg_end = carver.take<long long>(s);
  layout.totals = carver.take<Totals>(1);
  layout.cub_bytes = sort_bytes > scan_bytes ? sort_bytes : scan_bytes;
  layout.cub_temp = carver.take<unsigned char>(layout.cub_bytes);
  layout.total_bytes = carver.bytes();
  return layout;
}

// Everything the device code needs, derived once on the host.
struct Params {
  const float* heat;
  const float* coords;
  const std::int64_t* semantic;
  const std::int64_t* ptr;
  long long n;
  long long num_scenes;
  long long slots;  // per scene
  long long cap;    // max_neighbors
  float r2;
  float r2_bg;
  float ratio;
  float threshold;
};

Params make_params(const Problem& problem) {
  Params p;
  p.heat = problem.heat;
  p.coords = problem.coords;
  p.semantic = problem.semantic;
  p.ptr = problem.ptr;
  p.n = problem.num_points;
  p.num_scenes = problem.num_scenes;
  p.slots = slots_per_scene(problem);
  p.cap = problem.max_neighbors;
  // volatile keeps the host compiler from contracting or widening: plain float32 products.
  volatile float r = problem.radius;
  volatile float r2 = r * r;
  p.r2 = r2;
  p.r2_bg = 4.0f * r2;
  p.ratio = problem.local_ratio;
  p.threshold = problem.score_threshold;
  return p;
}

struct MinOp {
  __device__ __forceinline__ long long operator()(long long a, long long b) const {
    return b < a ? b : a;
  }
};

struct MaxOp {
  __device__ __forceinline__ float operator()(float a, float b) const { return b > a ? b : a; }
};

__device__ __forceinline__ unsigned long long neighbour_key(float d2, long long local_index) {
  return (static_cast<unsigned long long>(__float_as_uint(d2)) << 32) |
         static_cast<unsigned long long>(static_cast<unsigned>(local_index));
}

__device__ __forceinline__ float squared(float d) { return __fmul_rn(d, d); }

// ---------------------------------------------------------------------------------------------
// Preparation: x order and visiting order, each one stable radix sort over (scene, key).

__global__ void x_keys_kernel(Params p, unsigned long long* keys, int* identity) {
  for (long long i = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; i < p.n;
       i += static_cast<long long>(gridDim.x) * blockDim.x) {
    const long long scene = scene_of(p.ptr, p.num_scenes, i);
    keys[i] = (static_cast<unsigned long long>(scene) << 32) |
              ascending_float_key(p.coords[3 * i]);
    identity[i] = static_cast<int>(i);
  }
}

__global__ void gather_kernel(Params p, const int* x_order, float4* points, long long* classes,
                              int* position_of) {
  for (long long q = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; q < p.n;
       q += static_cast<long long>(gridDim.x) * blockDim.x) {
    const int i = x_order[q];
    points[q] = make_float4(p.coords[3LL * i], p.coords[3LL * i + 1], p.coords[3LL * i + 2],
                            p.heat[i]);
    classes[q] = p.semantic[i];
    position_of[i] = static_cast<int>(q);
  }
}

__global__ void heat_keys_kernel(Params p, unsigned long long* keys) {
  for (long long i = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; i < p.n;
       i += static_cast<long long>(gridDim.x) * blockDim.x) {
    const long long scene = scene_of(p.ptr, p.num_scenes, i);
    keys[i] = (static_cast<unsigned long long>(scene) << 32) | descending_float_key(p.heat[i]);
  }
}

__global__ void visit_position_kernel(long long n, const int* visit_order, const int* position_of,
                                      int* visit_position) {
  for (long long r = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; r < n;
       r += static_cast<long long>(gridDim.x) * blockDim.x) {
    visit_position[r] = position_of[visit_order[r]];
  }
}

// ---------------------------------------------------------------------------------------------
// The candidate loop.

// Slab predicates along ascending x; each is false, then true (monotone):
// begin: "x >= xc or fl(fl(xc - x)^2) < r2_bg" is true from the slab's first position on;
// end:   "x > xc and not fl(fl(xc - x)^2) < r2_bg" is true from one past the slab's last.
struct SlabBegin {
  float xc;
  float r2_bg;
  __device__ bool operator()(float x) const {
    return x >= xc || squared(__fsub_rn(xc, x)) < r2_bg;
  }
};

struct SlabEnd {
  float xc;
  float r2_bg;
  __device__ bool operator()(float x) const {
    return x > xc && !(squared(__fsub_rn(xc, x)) < r2_bg);
  }
};

// First position in [lo, hi) of the x-sorted points where `pred` holds (hi if none), found by
// one warp with a 33-ary search: each round probes 32 positions at once, so a 150 000-point
// scene takes four rounds of dependent loads instead of seventeen. All 32 lanes must call it.
template <typename Pred>
__device__ long long warp_first_true(const float4* points, long long lo, long long hi,
                                     Pred pred) {
  const long long lane = threadIdx.x & 31u;
  while (lo < hi) {  // the answer lies in [lo, hi]; hi is true or the end
    const long long len = hi - lo;
    const long long probe = lo + len * (lane + 1) / 33;  // < hi, non-decreasing in the lane
    const unsigned hits = __ballot_sync(kFullWarpMask, pred(points[probe].x));
    if (hits == 0u) {
      lo = lo + len * 32 / 33 + 1;  // past the last probe
    } else {
      const long long f = __ffs(hits) - 1;
      const long long previous = f == 0 ? lo - 1 : lo + len * f / 33;
      hi = lo + len * (f + 1) / 33;
      lo = previous + 1;
    }
  }
  return lo;
}

struct SelectState {
  int digit;
  int remaining;
};

// The key of rank `rank` (0-based, ascending) among keys[0, count); keys are distinct. Eight
// passes of 8 bits from the top, each a shared-memory histogram of the keys that still match the
// chosen prefix. Called by the whole block.
template <int kBlock>
__device__ unsigned long long block_select(const unsigned long long* keys, int count, int rank,
                                           unsigned* hist, SelectState* state) {
  unsigned long long prefix = 0ull;
  unsigned long long mask = 0ull;
  int remaining = rank;
  for (int shift = 56; shift >= 0; shift -= 8) {
    for (int k = threadIdx.x; k < 256; k += kBlock) hist[k] = 0u;
    __syncthreads();
    for (int base = 0; base < count; base += kBlock) {
      const int i = base + static_cast<int>(threadIdx.x);
      bool active = false;
      int digit = 0;
      if (i < count) {
        const unsigned long long key = keys[i];
        active = (key & mask) == prefix;
        digit = static_cast<int>((key >> shift) & 0xffull);
      }
      warp_histogram_add(hist, digit, active);
    }
    __syncthreads();
    if (threadIdx.x < 32) {
      // Lane l owns bins [8l, 8l + 8); a warp scan finds the lane holding rank `remaining`.
      const int lane = static_cast<int>(threadIdx.x);
      unsigned local = 0u;
      for (int j = 0; j < 8; ++j) local += hist[8 * lane + j];
      unsigned inclusive = local;
      for (int offset = 1; offset < 32; offset *= 2) {
        const unsigned other = __shfl_up_sync(kFullWarpMask, inclusive, offset);
        if (lane >= offset) inclusive += other;
      }
      const unsigned exclusive = inclusive - local;
      const unsigned want = static_cast<unsigned>(remaining);
      if (exclusive <= want && want < inclusive) {
        unsigned run = exclusive;
        int digit = 8 * lane + 7;
        for (int j = 0; j < 8; ++j) {
          const unsigned h = hist[8 * lane + j];
          if (want < run + h) {
            digit = 8 * lane + j;
            break;
          }
          run += h;
        }
        state->digit = digit;
        state->remaining = static_cast<int>(want - run);
      }
    }
    __syncthreads();
    prefix |= static_cast<unsigned long long>(state->digit) << shift;
    mask |= 0xffull << shift;
    remaining = state->remaining;
    __syncthreads();
  }
  return prefix;
}

struct SearchBuffers {
  const float4* points;
  const long long* classes;
  const int* x_order;
  const int* visit_position;
  unsigned char* suppressed;
  unsigned long long* fg_keys;
  unsigned long long* bg_keys;
  long long* slot_point;
  long long* slot_size;
  long long* slot_bg;
  unsigned long long* slot_fg_limit;
  unsigned long long* slot_bg_limit;
  long long* num_accepted;
};

template <int kBlock>
__global__ void __launch_bounds__(kBlock) search_kernel(Params p, SearchBuffers buf) {
  using ReducePosition = cub::BlockReduce<long long, kBlock>;
  using ReduceHeat = cub::BlockReduce<float, kBlock>;
  __shared__ union {
    typename ReducePosition::TempStorage position;
    typename ReduceHeat::TempStorage heat;
  } temp;
  __shared__ long long s_next;
  __shared__ long long s_slab_begin;
  __shared__ long long s_slab_end;
  __shared__ int s_fg_count;
  __shared__ int s_bg_count;
  __shared__ float s_max_heat;
  __shared__ unsigned s_hist[256];
  __shared__ SelectState s_select;

  for (long long scene = blockIdx.x; scene < p.num_scenes; scene += gridDim.x) {
    const SceneRange range = scene_range(p.ptr, scene, p.n);
    const long long first = range.begin;
    const long long size = range.end - range.begin;
    unsigned long long* fg_keys = buf.fg_keys + first;
    unsigned long long* bg_keys = buf.bg_keys + first;
    long long accepted = 0;
    long long cursor = 0;  // next rank in the visiting order
    while (accepted < p.slots) {
      // 1. The next point in visiting order that is not suppressed (block-wide windows).
      long long found = -1;
      while (cursor < size) {
        const long long r = cursor + threadIdx.x;
        const long long mine =
            (r < size && !buf.suppressed[buf.visit_position[first + r]]) ? r : LLONG_MAX;
        const long long window_first = ReducePosition(temp.position).Reduce(mine, MinOp());
        if (threadIdx.x == 0) s_next = window_first;
        __syncthreads();
        const long long next = s_next;
        __syncthreads();
        if (next != LLONG_MAX) {
          found = next;
          break;
        }
        cursor += kBlock;
      }
      if (found < 0) break;
      cursor = found + 1;
      const long long c_pos = buf.visit_position[first + found];
      const float4 c = buf.points[c_pos];
      // Heat decreases along the visiting order, so no later point is eligible either.
      if (!(c.w >= p.threshold)) break;
      const long long c_class = buf.classes[c_pos];

      // 2. Suppress within R; collect F (same class, within R) and G (other class, within 2R).
      // The slab: x-sorted positions whose x-gap alone does not rule out d2 < R2_bg.
      if (threadIdx.x < 32) {
        const long long begin =
            warp_first_true(buf.points, first, range.end, SlabBegin{c.x, p.r2_bg});
        if (threadIdx.x == 0) {
          s_slab_begin = begin;
          s_fg_count = 0;
          s_bg_count = 0;
        }
      } else if (threadIdx.x < 64) {
        const long long end =
            warp_first_true(buf.points, first, range.end, SlabEnd{c.x, p.r2_bg});
        if (threadIdx.x == 32) s_slab_end = end;
      }
      __syncthreads();
      const long long lo = s_slab_begin;
      const long long hi = s_slab_end;
      float max_heat = c.w;
      for (long long base = lo; base < hi; base += kBlock) {
        const long long q = base + threadIdx.x;
        bool in_fg = false;
        bool in_bg = false;
        unsigned long long key = 0ull;
        if (q < hi) {
          const float4 pt = buf.points[q];
          const float d2 = squared_distance(c.x, c.y, c.z, pt.x, pt.y, pt.z);
          if (d2 < p.r2_bg) {
            const bool same = buf.classes[q] == c_class;
            if (d2 < p.r2) {
              buf.suppressed[q] = 1;
              if (same) {
                in_fg = true;
                max_heat = fmaxf(max_heat, pt.w);
              }
            }
            in_bg = !same;
            key = neighbour_key(d2, buf.x_order[q] - first);
          }
        }
        warp_append(in_fg, key, fg_keys, &s_fg_count);
        warp_append(in_bg, key, bg_keys, &s_bg_count);
      }
      const float block_max = ReduceHeat(temp.heat).Reduce(max_heat, MaxOp());
      if (threadIdx.x == 0) s_max_heat = block_max;
      __syncthreads();
      const int fg_count = s_fg_count;
      const int bg_count = s_bg_count;

      // 3. Local normalisation; 4. accept, and cap the lists by the (d2, index) rank.
      if (!(c.w < __fmul_rn(p.ratio, s_max_heat))) {
        const long long slot = scene * p.slots + accepted;
        unsigned long long fg_limit = kNoLimit;
        unsigned long long bg_limit = kNoLimit;
        if (p.cap > 0 && fg_count > p.cap) {
          fg_limit = block_select<kBlock>(fg_keys, fg_count, static_cast<int>(p.cap - 1), s_hist,
                                          &s_select);
        }
        if (p.cap > 0 && bg_count > p.cap) {
          bg_limit = block_select<kBlock>(bg_keys, bg_count, static_cast<int>(p.cap - 1), s_hist,
                                          &s_select);
        }
        if (threadIdx.x == 0) {
          buf.slot_point[slot] = buf.x_order[c_pos];
          buf.slot_size[slot] = fg_count;
          buf.slot_bg[slot] = bg_count;
          buf.slot_fg_limit[slot] = fg_limit;
          buf.slot_bg_limit[slot] = bg_limit;
        }
        ++accepted;
      }
      __syncthreads();
    }
    if (threadIdx.x == 0) buf.num_accepted[scene] = accepted;
    __syncthreads();
  }
}

// ---------------------------------------------------------------------------------------------
// Output sizes and compaction.

__global__ void lengths_kernel(Params p, const long long* num_accepted, const long long* slot_size,
                               const long long* slot_bg, long long* cand_len, long long* fg_len,
                               long long* bg_len) {
  const long long total = p.num_scenes * p.slots;
  for (long long s = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; s < total;
       s += static_cast<long long>(gridDim.x) * blockDim.x) {
    const bool used = s % p.slots < num_accepted[s / p.slots];
    cand_len[s] = used ? 1 : 0;
    fg_len[s] = used ? (slot_size[s] < p.cap ? slot_size[s] : p.cap) : 0;
    bg_len[s] = used ? (slot_bg[s] < p.cap ? slot_bg[s] : p.cap) : 0;
  }
}

__global__ void totals_kernel(const long long* cand_end, const long long* fg_end,
                              const long long* bg_end, long long last, Totals* totals) {
  totals->num_candidates = cand_end[last];
  totals->num_fg = fg_end[last];
  totals->num_bg = bg_end[last];
}

struct SlotView {
  const long long* slot_point;
  const long long* slot_size;
  const unsigned long long* slot_fg_limit;
  const unsigned long long* slot_bg_limit;
  const long long* num_accepted;
  const long long* cand_len;
  const long long* fg_len;
  const long long* bg_len;
  const long long* cand_end;
  const long long* fg_end;
  const long long* bg_end;
};

__global__ void candidates_kernel(Params p, SlotView v, Totals totals, Outputs out) {
  const long long total = p.num_scenes * p.slots;
  for (long long s = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; s < total;
       s += static_cast<long long>(gridDim.x) * blockDim.x) {
    if (s % p.slots == 0) {
      out.candidate_ptr[s / p.slots] = v.cand_end[s] - v.cand_len[s];
    }
    if (s == 0) {
      out.candidate_ptr[p.num_scenes] = totals.num_candidates;
      out.fg_ptr[totals.num_candidates] = totals.num_fg;
      out.bg_ptr[totals.num_candidates] = totals.num_bg;
    }
    if (!v.cand_len[s]) continue;
    const long long k = v.cand_end[s] - 1;
    out.candidate_idx[k] = v.slot_point[s];
    out.sizes[k] = v.slot_size[s];
    out.fg_ptr[k] = v.fg_end[s] - v.fg_len[s];
    out.bg_ptr[k] = v.bg_end[s] - v.bg_len[s];
  }
}

// One block per slot: rescan the candidate's scene in index order and write the members whose
// key is within the cap (the same float32 d2 as the loop, so membership is identical).
template <int kBlock>
__global__ void __launch_bounds__(kBlock) lists_kernel(Params p, SlotView v, Outputs out) {
  using Scan = cub::BlockScan<int, kBlock>;
  __shared__ typename Scan::TempStorage scan_temp;
  const long long total = p.num_scenes * p.slots;
  for (long long s = blockIdx.x; s < total; s += gridDim.x) {
    const long long fg_needed = v.fg_len[s];
    const long long bg_needed = v.bg_len[s];
    if (fg_needed == 0 && bg_needed == 0) continue;  // unused slot or empty lists
    const SceneRange range = scene_range(p.ptr, s / p.slots, p.n);
    const long long c = v.slot_point[s];
    const float xc = p.coords[3 * c];
    const float yc = p.coords[3 * c + 1];
    const float zc = p.coords[3 * c + 2];
    const long long c_class = p.semantic[c];
    const unsigned long long fg_limit = v.slot_fg_limit[s];
    const unsigned long long bg_limit = v.slot_bg_limit[s];
    std::int64_t* fg_out = out.fg_idx + (v.fg_end[s] - fg_needed);
    std::int64_t* bg_out = out.bg_idx + (v.bg_end[s] - bg_needed);
    long long fg_written = 0;
    long long bg_written = 0;
    for (long long base = range.begin; base < range.end; base += kBlock) {
      if (fg_written == fg_needed && bg_written == bg_needed) break;  // uniform
      const long long j = base + threadIdx.x;
      bool in_fg = false;
      bool in_bg = false;
      if (j < range.end) {
        const float d2 = squared_distance(xc, yc, zc, p.coords[3 * j], p.coords[3 * j + 1],
                                          p.coords[3 * j + 2]);
        if (d2 < p.r2_bg) {
          const bool same = p.semantic[j] == c_class;
          const unsigned long long key = neighbour_key(d2, j - range.begin);
          in_fg = same && d2 < p.r2 && key <= fg_limit;
          in_bg = !same && key <= bg_limit;
        }
      }
      // Both flags in one scan: F counts in the high 16 bits, G counts in the low 16 bits.
      const int packed = (in_fg ? (1 << 16) : 0) | (in_bg ? 1 : 0);
      int offset = 0;
      int tile_total = 0;
      Scan(scan_temp).ExclusiveSum(packed, offset, tile_total);
      // The bounds checks never fail (counts match the loop's); they guard the output buffers.
      const long long fg_at = fg_written + (offset >> 16);
      const long long bg_at = bg_written + (offset & 0xffff);
      if (in_fg && fg_at < fg_needed) fg_out[fg_at] = j;
      if (in_bg && bg_at < bg_needed) bg_out[bg_at] = j;
      fg_written += tile_total >> 16;
      bg_written += tile_total & 0xffff;
      __syncthreads();
    }
  }
}

}  // namespace

std::int64_t slots_per_scene(const Problem& problem) {
  // A scene accepts at most min(max_candidates, its size) candidates, so the largest scene
  // bounds the slots (sizing by the whole batch N would waste memory on many-scene batches).
  const std::int64_t slots = problem.max_candidates;
  if (slots <= 0) return 0;
  return slots < problem.largest_scene ? slots : problem.largest_scene;
}

std::size_t workspace_bytes(const Problem& problem) {
  return carve(nullptr, problem.num_points, problem.num_scenes, slots_per_scene(problem))
      .total_bytes;
}

cudaError_t search(const Problem& problem, void* workspace, cudaStream_t stream, Totals* totals) {
  const Params p = make_params(problem);
  const Layout ws = carve(workspace, p.n, p.num_scenes, p.slots);
  const unsigned grid = grid_for(p.n, kThreads, kMaxBlocks);
  const int items = static_cast<int>(p.n);

  x_keys_kernel<<<grid, kThreads, 0, stream>>>(p, ws.keys_in, ws.identity);
  DKNET_CUDA_TRY(cudaGetLastError());
  std::size_t cub_bytes = ws.cub_bytes;
  DKNET_CUDA_TRY(cub::DeviceRadixSort::SortPairs(ws.cub_temp, cub_bytes, ws.keys_in, ws.keys_out,
                                                 ws.identity, ws.x_order, items, 0, 64, stream));
  gather_kernel<<<grid, kThreads, 0, stream>>>(p, ws.x_order, ws.points, ws.classes,
                                               ws.position_of);
  DKNET_CUDA_TRY(cudaGetLastError());
  heat_keys_kernel<<<grid, kThreads, 0, stream>>>(p, ws.keys_in);
  DKNET_CUDA_TRY(cudaGetLastError());
  // Stable: equal heats keep ascending point indices (the contract's tie rule).
  cub_bytes = ws.cub_bytes;
  DKNET_CUDA_TRY(cub::DeviceRadixSort::SortPairs(ws.cub_temp, cub_bytes, ws.keys_in, ws.keys_out,
                                                 ws.identity, ws.visit_order, items, 0, 64,
                                                 stream));
  visit_position_kernel<<<grid, kThreads, 0, stream>>>(p.n, ws.visit_order, ws.position_of,
                                                       ws.visit_position);
  DKNET_CUDA_TRY(cudaGetLastError());
  DKNET_CUDA_TRY(cudaMemsetAsync(ws.suppressed, 0, static_cast<std::size_t>(p.n), stream));

  SearchBuffers buf;
  buf.points = ws.points;
  buf.classes = ws.classes;
  buf.x_order = ws.x_order;
  buf.visit_position = ws.visit_position;
  buf.suppressed = ws.suppressed;
  buf.fg_keys = ws.fg_keys;
  buf.bg_keys = ws.bg_keys;
  buf.slot_point = ws.slot_point;
  buf.slot_size = ws.slot_size;
  buf.slot_bg = ws.slot_bg;
  buf.slot_fg_limit = ws.slot_fg_limit;
  buf.slot_bg_limit = ws.slot_bg_limit;
  buf.num_accepted = ws.num_accepted;
  const unsigned scenes =
      static_cast<unsigned>(p.num_scenes < kMaxBlocks ? p.num_scenes : kMaxBlocks);
  search_kernel<kSearchThreads><<<scenes, kSearchThreads, 0, stream>>>(p, buf);
  DKNET_CUDA_TRY(cudaGetLastError());

  const long long slots = p.num_scenes * p.slots;
  lengths_kernel<<<grid_for(slots, kThreads, kMaxBlocks), kThreads, 0, stream>>>(
      p, ws.num_accepted, ws.slot_size, ws.slot_bg, ws.cand_len, ws.fg_len, ws.bg_len);
  DKNET_CUDA_TRY(cudaGetLastError());
  const long long* lens[3] = {ws.cand_len, ws.fg_len, ws.bg_len};
  long long* ends[3] = {ws.cand_end, ws.fg_end, ws.bg_end};
  for (int i = 0; i < 3; ++i) {
    cub_bytes = ws.cub_bytes;
    DKNET_CUDA_TRY(cub::DeviceScan::InclusiveSum(ws.cub_temp, cub_bytes, lens[i], ends[i],
                                                 static_cast<int>(slots), stream));
  }
  totals_kernel<<<1, 1, 0, stream>>>(ws.cand_end, ws.fg_end, ws.bg_end, slots - 1, ws.totals);
  DKNET_CUDA_TRY(cudaGetLastError());
  DKNET_CUDA_TRY(
      cudaMemcpyAsync(totals, ws.totals, sizeof(Totals), cudaMemcpyDeviceToHost, stream));
  return cudaStreamSynchronize(stream);
}

cudaError_t write_outputs(const Problem& problem, const Totals& totals, const Outputs& out,
                          void* workspace, cudaStream_t stream) {
  const Params p = make_params(problem);
  const Layout ws = carve(workspace, p.n, p.num_scenes, p.slots);
  SlotView v;
  v.slot_point = ws.slot_point;
  v.slot_size = ws.slot_size;
  v.slot_fg_limit = ws.slot_fg_limit;
  v.slot_bg_limit = ws.slot_bg_limit;
  v.num_accepted = ws.num_accepted;
  v.cand_len = ws.cand_len;
  v.fg_len = ws.fg_len;
  v.bg_len = ws.bg_len;
  v.cand_end = ws.cand_end;
  v.fg_end = ws.fg_end;
  v.bg_end = ws.bg_end;
  const long long slots = p.num_scenes * p.slots;
  candidates_kernel<<<grid_for(slots, kThreads, kMaxBlocks), kThreads, 0, stream>>>(p, v, totals,
                                                                                    out);
  DKNET_CUDA_TRY(cudaGetLastError());
  if (totals.num_fg + totals.num_bg > 0) {
    lists_kernel<kListThreads>
        <<<static_cast<unsigned>(slots < 65535 ? slots : 65535), kListThreads, 0, stream>>>(p, v,
                                                                                          out);
    DKNET_CUDA_TRY(cudaGetLastError());
  }
  return cudaSuccess;
}

}  // namespace mine_candidates
}  // namespace dknet
