// Fused, exact, variable-length recurrent layers (LSTM, GRU, vanilla RNN with tanh or relu; one
// or more directions) for float32 CPU tensors.
//
// Token rows. The real tokens of the right-padded (B, T, ...) batch are laid out row by row,
// with one separator row before every sequence and one after the last:
//   row(b, t) = base[b] + t,  base[0] = 1,  base[b + 1] = base[b] + len[b] + 1,
//   R = 1 + sum(len + 1) rows in all.
// Per direction, XH (R, I + H) holds in row(b, t) the step's whole GEMM operand: the input x[b, t]
// and the hidden state that this direction had before processing that token (zero for the first
// processed token). A step writes its h straight into the XH row of the token it processes next
// (row + 1 forward, row - 1 reverse; a separator after the last one), so
//   forward:  gates[row] = XH[row] @ [W_ih | W_hh]^T + b      one fused product + cell update
//   backward: [dh_prev | dx] = dgates[row] @ [W_hh | W_ih]     fused products per step
//             [dW_ih | dW_hh] = dgates^T @ XH                  one GEMM over all rows afterwards
// and padded steps cost nothing anywhere. The backward pass writes the gate gradients over the
// saved activations (no extra buffer), so it can run only once per forward pass (the Python
// wrapper recomputes with torch ops for a second or a double backward).
//
// Modes (torch's gate orders and formulas):
//   LSTM      gates i, f, g, o:  c' = f c + i g,  h' = o tanh(c')
//   GRU       gates r, z, n:     n = tanh(W_in x + b_in + r (W_hn h + b_hn)),  h' = (1 - z) n + z h
//             The n gate's input and recurrent sums stay apart: the product runs over the x part
//             (r, z, n_x) and then the h part (r, z, n_h) of the same XH row, four sums per unit;
//             its weight gradient is three GEMMs ([dr, dz]^T @ XH, dn_x^T @ X, dn_h^T @ H).
//   RNN_TANH  h' = tanh(W_ih x + b_ih + W_hh h + b_hh),  RNN_RELU: relu instead of tanh.
//
// Every batch row is an independent recurrence, so the work is split into tasks (direction x
// group of rows) that never synchronise: with 2 threads and 2 directions each thread runs one
// direction from start to end. Rows are sorted by length (descending) inside a task, so the rows
// alive at step s are a prefix of the task's rows. The per-step products are register-blocked
// (RB rows x 4 vectors) with the gate nonlinearities applied while the sums are in registers.
//
// Vector width and blocking follow the ISA the file is compiled for (-march=native or not):
//   AVX-512:   16 lanes, 6 rows x 4 vectors = 24 of the 32 zmm registers hold sums
//   AVX2 + FMA: 8 lanes, 3 rows x 4 vectors = 12 of the 16 ymm registers hold sums, 3 broadcasts
//              (the weight vectors are FMA memory operands)
//   AVX without FMA: 8 lanes, 2 rows; SSE2 (no -march) and other x86: 4 lanes, 2 rows;
//   aarch64: 4 lanes (NEON), 6 rows (32 registers)
// A vector type wider than the hardware's must not be used: GCC does not split a 512-bit
// generic vector into two ymm registers on AVX2 but lowers it through the stack (a broadcast
// became 16 scalar stores, every sum went through general registers), and 24 sums of two ymm
// each could not fit 16 registers anyway: that made the AVX2 build 8-12x slower than this one.

// Narrow includes (not torch/extension.h): the first build takes a fraction of the time.
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/mm.h>
#include <ATen/ops/zeros.h>
#include <torch/csrc/utils/pybind.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <numeric>
#include <string>
#include <type_traits>
#include <vector>

#if defined(__AVX512F__) || defined(__AVX__) || defined(__SSE2__)
#include <immintrin.h>
#endif

#define PL_INLINE inline __attribute__((always_inline))

namespace {

// ------------------------------------------------------------------------------ SIMD helpers
#if defined(__AVX512F__)
#define PL_VEC_BYTES 64
#define PL_ISA "avx512"
constexpr int RB_MAX = 6;  // 6 x 4 = 24 accumulators of 32 registers
#elif defined(__AVX__)
#define PL_VEC_BYTES 32
#if defined(__AVX2__) && defined(__FMA__)
#define PL_ISA "avx2"
#else
#define PL_ISA "avx"
#endif
#if defined(__FMA__)
constexpr int RB_MAX = 3;  // 12 accumulators + 3 broadcasts (+ 1 weight vector) <= 16 registers
#else
constexpr int RB_MAX = 2;  // a separate multiply needs a temporary register
#endif
#else
#define PL_VEC_BYTES 16
#if defined(__aarch64__)
#define PL_ISA "neon"
constexpr int RB_MAX = 6;  // 32 vector registers
#elif defined(__SSE2__)
#define PL_ISA "sse2"
constexpr int RB_MAX = 2;  // 16 registers, no FMA
#else
#define PL_ISA "generic"
constexpr int RB_MAX = 2;
#endif
#endif

typedef float vf __attribute__((vector_size(PL_VEC_BYTES)));
typedef float vfu __attribute__((vector_size(PL_VEC_BYTES), aligned(4)));
typedef int32_t vi __attribute__((vector_size(PL_VEC_BYTES)));
typedef int32_t viu __attribute__((vector_size(PL_VEC_BYTES), aligned(4)));
constexpr int L = PL_VEC_BYTES / 4;  // lanes per vector
constexpr int NQ = 4;                // vectors per register block row
constexpr int NB = NQ * L;           // columns per register block

alignas(64) const int32_t kIota[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};

PL_INLINE vf splat(float a) {
#if defined(__AVX512F__)
  return (vf)_mm512_set1_ps(a);
#elif defined(__AVX__)
  return (vf)_mm256_set1_ps(a);
#elif defined(__SSE2__)
  return (vf)_mm_set1_ps(a);
#else
  vf v;
  for (int l = 0; l < L; ++l) v[l] = a;
  return v;
#endif
}
PL_INLINE vf ld(const float* p) { return *reinterpret_cast<const vfu*>(p); }
PL_INLINE void st(float* p, vf v) { *reinterpret_cast<vfu*>(p) = v; }

// Load / store the first n lanes (n <= 0: none); the rest read as zero.
PL_INLINE vf ldn(const float* p, int n) {
  if (n >= L) return ld(p);
#if defined(__AVX512F__)
  return (vf)_mm512_maskz_loadu_ps((__mmask16)((1u << std::max(n, 0)) - 1u), p);
#elif defined(__AVX__)
  const vi m = *reinterpret_cast<const viu*>(kIota) < (vi{} + n);
  return (vf)_mm256_maskload_ps(p, (__m256i)m);
#else
  vf v = {};
  for (int l = 0; l < n; ++l) v[l] = p[l];
  return v;
#endif
}

PL_INLINE void stn(float* p, vf v, int n) {
  if (n >= L) {
    st(p, v);
    return;
  }
#if defined(__AVX512F__)
  _mm512_mask_storeu_ps(p, (__mmask16)((1u << std::max(n, 0)) - 1u), (__m512)v);
#elif defined(__AVX__)
  const vi m = *reinterpret_cast<const viu*>(kIota) < (vi{} + n);
  _mm256_maskstore_ps(p, (__m256i)m, (__m256)v);
#else
  for (int l = 0; l < n; ++l) p[l] = v[l];
#endif
}

PL_INLINE vf vmin(vf a, vf b) { return a < b ? a : b; }
PL_INLINE vf vmax(vf a, vf b) { return a > b ? a : b; }

// exp(x) for x in [-87, 87]: Cody-Waite reduction to |r| <= ln2/2, degree-7 Taylor polynomial
// (about 1 ulp), times 2^n.
PL_INLINE vf vexp(vf x) {
#if defined(__AVX512F__)
  const vf n = (vf)_mm512_roundscale_ps((__m512)(x * 1.44269504088896341f),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
#else
  const vf magic = splat(12582912.0f);  // 1.5 * 2^23: adding it rounds to an integer
  const vf n = (x * 1.44269504088896341f + magic) - magic;
#endif
  vf r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  vf p = splat(1.0f / 5040.0f);
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
#if defined(__AVX512F__)
  return (vf)_mm512_scalef_ps((__m512)p, (__m512)n);
#else
  const vi e = (__builtin_convertvector(n, vi) + 127) << 23;
  return p * (vf)e;
#endif
}

PL_INLINE vf vrcp(vf d) {
#if defined(__AVX512F__)
  const vf y = (vf)_mm512_rcp14_ps((__m512)d);
  return y * (2.0f - d * y);  // one Newton step: ~2^-28 relative error
#else
  return 1.0f / d;
#endif
}

PL_INLINE vf vsigmoid(vf x) {
  x = vmax(vmin(x, splat(80.0f)), splat(-80.0f));
  return vrcp(1.0f + vexp(-x));
}

PL_INLINE vf vtanh(vf x) {
  x = vmax(vmin(x, splat(40.0f)), splat(-40.0f));
  return 1.0f - 2.0f * vrcp(1.0f + vexp(x + x));
}

PL_INLINE vf vrelu(vf x) { return vmax(x, vf{}); }

PL_INLINE void prefetch(const void* p) { __builtin_prefetch(p, 0, 2); }  // into L2

// Aligned scratch memory, not zeroed.
struct Scratch {
  float* p = nullptr;
  explicit Scratch(size_t n) {
    p = static_cast<float*>(std::aligned_alloc(64, ((n * sizeof(float) + 63) / 64) * 64 + 64));
    TORCH_CHECK(p != nullptr, "padless rnn: out of memory for a scratch buffer");
  }
  ~Scratch() { std::free(p); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
};

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Calls f(std::integral_constant<int, rb>) for a runtime rb in [1, RB_MAX].
template <class F>
PL_INLINE void with_rows(int rb, F&& f) {
  if constexpr (RB_MAX >= 6) if (rb >= 6) return f(std::integral_constant<int, 6>{});
  if constexpr (RB_MAX >= 5) if (rb == 5) return f(std::integral_constant<int, 5>{});
  if constexpr (RB_MAX >= 4) if (rb == 4) return f(std::integral_constant<int, 4>{});
  if constexpr (RB_MAX >= 3) if (rb == 3) return f(std::integral_constant<int, 3>{});
  if (rb >= 2) return f(std::integral_constant<int, 2>{});
  return f(std::integral_constant<int, 1>{});
}

// Row blocks over n live rows: RB_MAX each, except that a remainder of one row is avoided
// (a 1-row block reloads every weight vector for one row only): 7 rows with RB_MAX 6 -> 3 + 4,
// 4 rows with RB_MAX 3 -> 2 + 2.
template <class F>
PL_INLINE void for_row_blocks(int64_t n, F&& f) {
  for (int64_t r0 = 0; r0 < n;) {
    const int64_t left = n - r0;
    int64_t rb = std::min<int64_t>(RB_MAX, left);
    if (left > RB_MAX && left < RB_MAX + 2) rb = left / 2;
    f(r0, static_cast<int>(rb));
    r0 += rb;
  }
}

// acc[r][q] += sum_{k < K} a[r][off + k] * w[k * NV * L + q * L + l]: RB rows (given by
// pointers) x NV vectors. Per k: RB broadcasts, then one weight vector at a time, so that the
// live registers are RB * NV sums + RB broadcasts + 1 weight vector.
//
// Not inlined on purpose: inlined into the forward step, GCC's register allocator kept values of
// the activation code that follows live across this loop and spilled accumulators (a load and a
// store on each sum's dependency chain, every k).
template <int RB, int NV>
__attribute__((noinline)) void gemm_acc(const float* const* a, int64_t off, int64_t K,
                                        const float* __restrict w, vf (&acc)[RB][NV]) {
  const float* ap[RB];
  vf c[RB][NV];  // local sums: the caller's array could alias a and w (stored every k)
#pragma GCC unroll 6
  for (int r = 0; r < RB; ++r) {
    ap[r] = a[r] + off;
#pragma GCC unroll 4
    for (int q = 0; q < NV; ++q) c[r][q] = acc[r][q];
  }
  for (int64_t k = 0; k < K; ++k) {
    const float* wk = w + k * NV * L;
    vf x[RB];
#pragma GCC unroll 6
    for (int r = 0; r < RB; ++r) x[r] = splat(ap[r][k]);
#pragma GCC unroll 4
    for (int q = 0; q < NV; ++q) {
      const vf wq = ld(wk + q * L);
#pragma GCC unroll 6
      for (int r = 0; r < RB; ++r) c[r][q] += x[r] * wq;
    }
  }
#pragma GCC unroll 6
  for (int r = 0; r < RB; ++r)
#pragma GCC unroll 4
    for (int q = 0; q < NV; ++q) acc[r][q] = c[r][q];
}

template <int RB, int NV>
PL_INLINE void zero(vf (&acc)[RB][NV]) {
#pragma GCC unroll 6
  for (int r = 0; r < RB; ++r)
#pragma GCC unroll 4
    for (int q = 0; q < NV; ++q) acc[r][q] = vf{};
}

// Packs the (K, N) row-major matrix m (rows k, columns n: m[k * ldm + n]) into column tiles of
// NB: out[(c * K + k) * NB + l] = m[k, NB c + l], zero past N.
void pack_cols(const float* m, int64_t ldm, int64_t K, int64_t N, float* out) {
  for (int64_t c = 0; c < ceil_div(N, NB); ++c)
    for (int64_t k = 0; k < K; ++k)
      for (int64_t l = 0; l < NB; ++l) {
        const int64_t n = c * NB + l;
        out[(c * K + k) * NB + l] = n < N ? m[k * ldm + n] : 0.0f;
      }
}

// ------------------------------------------------------------------------------ modes
enum Mode : int { kLSTM = 0, kGRU = 1, kRNNTanh = 2, kRNNRelu = 3 };
const char* const kModeNames[] = {"LSTM", "GRU", "RNN_TANH", "RNN_RELU"};

constexpr int gates_of(int m) { return m == kLSTM ? 4 : m == kGRU ? 3 : 1; }
// Saved values per hidden unit and token (their gradients overwrite them in the backward pass):
// LSTM i, f, g, o; GRU r, z, n, W_hn h + b_hn; RNN h'.
constexpr int slots_of(int m) { return m == kLSTM || m == kGRU ? 4 : 1; }
// Weight vectors per k of a forward tile, and hidden units per tile.
constexpr int fwd_nv(int m) { return m == kGRU ? 3 : 4; }
constexpr int64_t tile_units(int m) { return m == kRNNTanh || m == kRNNRelu ? NB : L; }

// ------------------------------------------------------------------------------ workspace pool
// The large internal buffers (XH, gates, c, dx parts: tens of MB per call) are recycled: a
// fresh allocation of that size is mmap'ed and page-faulted in on first touch, which cost ~20%
// of a training step. A block is free again once no tensor (saved for backward, or a view)
// refers to its storage. Only internal buffers come from here, never returned tensors.
struct Pool {
  std::mutex mu;
  std::vector<at::Tensor> blocks;  // 1-D float32
  int64_t bytes = 0;
  int64_t cap_bytes = int64_t(2) << 30;  // free blocks beyond this total are released
};

Pool& pool() {
  static Pool* p = new Pool();  // leaked on purpose: no destruction-order issues at exit
  return *p;
}

inline bool block_free(const at::Tensor& t) {
  return t.use_count() == 1 && t.storage().use_count() == 1;
}

// An uninitialised float32 tensor of the given shape backed by a pooled block.
at::Tensor pooled_empty(at::IntArrayRef shape) {
  int64_t n = 1;
  for (const int64_t s : shape) n *= s;
  Pool& p = pool();
  std::lock_guard<std::mutex> lock(p.mu);
  // A block allocated under torch.inference_mode is an inference tensor for good: autograd may
  // not save it. Reuse only blocks made in the caller's own mode.
  const bool inference = c10::InferenceMode::is_enabled();
  int64_t best = -1;
  for (int64_t i = 0; i < static_cast<int64_t>(p.blocks.size()); ++i) {
    const at::Tensor& t = p.blocks[i];
    if (t.numel() >= n && t.numel() <= 2 * n + (int64_t(1) << 18) && block_free(t) &&
        t.is_inference() == inference && (best < 0 || t.numel() < p.blocks[best].numel()))
      best = i;
  }
  if (best >= 0) return p.blocks[best].narrow(0, 0, n).view(shape);
  // Headroom so that the next, slightly longer batch fits too.
  const int64_t size = n + n / 8 + 1024;
  at::Tensor t = at::empty({size}, at::TensorOptions().dtype(at::kFloat));
  p.blocks.push_back(t);
  p.bytes += size * 4;
  // Over the cap: release free blocks, oldest first (the new one is in use: never released).
  for (auto it = p.blocks.begin(); p.bytes > p.cap_bytes && it != p.blocks.end();) {
    if (block_free(*it) && !it->is_same(t)) {
      p.bytes -= it->numel() * 4;
      it = p.blocks.erase(it);
    } else {
      ++it;
    }
  }
  return t.narrow(0, 0, n).view(shape);
}

// Releases every free block; returns the bytes still held by blocks in use.
int64_t pool_release(int64_t cap_bytes) {
  Pool& p = pool();
  std::lock_guard<std::mutex> lock(p.mu);
  if (cap_bytes >= 0) p.cap_bytes = cap_bytes;
  for (auto it = p.blocks.begin(); it != p.blocks.end();) {
    if (block_free(*it)) {
      p.bytes -= it->numel() * 4;
      it = p.blocks.erase(it);
    } else {
      ++it;
    }
  }
  return p.bytes;
}

// ------------------------------------------------------------------------------ plan
struct Plan {
  int64_t B = 0, T = 0, I = 0, H = 0, D = 0, R = 0;
  std::vector<int64_t> len, base;
  std::vector<std::vector<int64_t>> groups;  // rows of each group, sorted by length descending
};

Plan make_plan(const at::Tensor& lengths, int64_t T, int64_t I, int64_t H, int64_t D) {
  TORCH_CHECK(lengths.dim() == 1 && lengths.scalar_type() == at::kLong && lengths.device().is_cpu(),
              "lengths: expected a (B,) int64 CPU tensor");
  Plan p;
  p.B = lengths.size(0);
  p.T = T;
  p.I = I;
  p.H = H;
  p.D = D;
  const at::Tensor lc = lengths.contiguous();
  const int64_t* l = lc.data_ptr<int64_t>();
  p.len.assign(l, l + p.B);
  p.base.resize(p.B);
  int64_t row = 1;
  for (int64_t b = 0; b < p.B; ++b) {
    TORCH_CHECK(p.len[b] >= 1 && p.len[b] <= T, "lengths: expected every length in [1, T=", T,
                "], got ", p.len[b], " at row ", b);
    p.base[b] = row;
    row += p.len[b] + 1;
  }
  p.R = row;
  std::vector<int64_t> order(p.B);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return p.len[a] > p.len[b]; });
  // At least one task per thread; each direction's rows dealt round-robin (longest first) into
  // groups of at least 4 rows, so that the groups carry about equal work.
  const int64_t threads = std::max<int64_t>(1, at::get_num_threads());
  int64_t g = std::max<int64_t>(1, ceil_div(threads, D));
  g = std::min<int64_t>(g, std::max<int64_t>(1, p.B / 4));
  p.groups.assign(g, {});
  for (int64_t i = 0; i < p.B; ++i) p.groups[i % g].push_back(order[i]);
  return p;
}

// Zero the separator rows (base[b] - 1 for every b, and R - 1) of an (R, ld) matrix.
void zero_separators(float* m, int64_t ld, const Plan& p) {
  for (int64_t b = 0; b < p.B; ++b) std::memset(m + (p.base[b] - 1) * ld, 0, ld * sizeof(float));
  std::memset(m + (p.R - 1) * ld, 0, ld * sizeof(float));
}

// ------------------------------------------------------------------------------ forward
struct FwdArgs {
  const Plan* p;
  int64_t d;
  int64_t step;       // +1 forward, -1 reverse: the token row a sequence processes next
  float* xh;          // (R, xs): [x | h before this token], this direction
  int64_t xs;
  float* g;           // (R, S*H): saved activations (see slots_of), or null (no backward)
  float* csave;       // LSTM: (R, H): c after each token, or null
  float* out;         // (B, T, D*H)
  float* h_n;         // (B, H)
  float* c_n;         // LSTM: (B, H)
  const float* w_ih;  // (G*H, I)
  const float* w_hh;  // (G*H, H)
  const float* bias;  // LSTM: (4H) b_ih + b_hh; GRU: (4H) [b_r, b_z sums, b_in, b_hn]; RNN: (H)
};

// Packed [W_ih | W_hh] for the forward step: tile j holds, for every k < I+H, NV weight vectors
// of L lanes: w[((j * K + k) * NV + q) * L + l] = W[row(j, q, l), k], where row is
//   LSTM, GRU: q * H + j L + l (gate q of hidden unit j L + l)
//   RNN:       j NB + q L + l  (NB consecutive hidden units)
// and zero past the hidden size.
template <int MODE>
void pack_fwd(const FwdArgs& a, float* w) {
  constexpr int NV = fwd_nv(MODE);
  const int64_t I = a.p->I, H = a.p->H, K = I + H, TU = tile_units(MODE);
  for (int64_t j = 0; j < ceil_div(H, TU); ++j)
    for (int64_t k = 0; k < K; ++k)
      for (int64_t q = 0; q < NV; ++q)
        for (int64_t l = 0; l < L; ++l) {
          const int64_t u = TU == L ? j * L + l : j * NB + q * L + l;  // hidden unit
          const int64_t row = TU == L ? q * H + u : u;
          float v = 0.0f;
          if (u < H) v = k < I ? a.w_ih[row * I + k] : a.w_hh[row * H + k - I];
          w[((j * K + k) * NV + q) * L + l] = v;
        }
}

struct FwdRows {  // per live row of the current step
  std::vector<int64_t> tok;
  std::vector<const float*> a;  // XH row of the token: the GEMM operand
  std::vector<float*> out;      // out[b, pos] of this direction
  explicit FwdRows(size_t n) : tok(n), a(n), out(n) {}
};

// RB rows x one tile: the sums, then the activations and the state update, in registers.
template <int MODE, int RB>
PL_INLINE void fwd_block(const FwdArgs& a, const FwdRows& rows, int64_t r0, const float* wt,
                         int64_t j, float* cst, int64_t hs) {
  constexpr int NV = fwd_nv(MODE);
  constexpr int S = slots_of(MODE);
  const int64_t I = a.p->I, H = a.p->H, K = I + H, SH = S * H, TU = tile_units(MODE);
  const int64_t u0 = j * TU;  // first hidden unit of the tile
  const float* const* ap = rows.a.data() + r0;
  vf acc[RB][NV];
  zero(acc);
  vf nx[RB];  // GRU: W_in x (its recurrent part W_hn h accumulates apart)
  if constexpr (MODE == kGRU) {
    gemm_acc<RB, NV>(ap, 0, I, wt, acc);
#pragma GCC unroll 6
    for (int r = 0; r < RB; ++r) {
      nx[r] = acc[r][2];
      acc[r][2] = vf{};
    }
    gemm_acc<RB, NV>(ap, I, H, wt + I * NV * L, acc);
  } else {
    gemm_acc<RB, NV>(ap, 0, K, wt, acc);
  }
  // The lines these rows touch at their next step, fetched into L2 a step ahead.
  const int64_t tiles = ceil_div(H, TU), xlines = ceil_div(I, L);
#pragma GCC unroll 6
  for (int r = 0; r < RB; ++r) {
    const int64_t t = rows.tok[r0 + r] + a.step;
    for (int64_t q = j; q < xlines; q += tiles) prefetch(a.xh + t * a.xs + q * L);
    prefetch(rows.out[r0 + r] + a.step * a.p->D * H + u0);
    if (a.g) {
      float* g = a.g + t * SH + u0;
      for (int s = 0; s < S; ++s) prefetch(g + s * H);
      if (MODE == kLSTM) prefetch(a.csave + t * H + u0);
    }
  }
  if constexpr (MODE == kLSTM || MODE == kGRU) {
    const int nv = static_cast<int>(std::min<int64_t>(L, H - u0));
    const float* bj = a.bias + u0;
    const vf b0 = ldn(bj, nv), b1 = ldn(bj + H, nv), b2 = ldn(bj + 2 * H, nv),
             b3 = ldn(bj + 3 * H, nv);
#pragma GCC unroll 6
    for (int r = 0; r < RB; ++r) {
      const int64_t t = rows.tok[r0 + r];
      float* hnext = a.xh + (t + a.step) * a.xs + I + u0;  // operand of the next token
      if constexpr (MODE == kLSTM) {
        const vf i = vsigmoid(acc[r][0] + b0);
        const vf f = vsigmoid(acc[r][1] + b1);
        const vf gg = vtanh(acc[r][2] + b2);
        const vf o = vsigmoid(acc[r][3] + b3);
        float* cp = cst + (r0 + r) * hs + u0;
        const vf c = f * ld(cp) + i * gg;
        const vf h = o * vtanh(c);
        st(cp, c);
        stn(hnext, h, nv);
        stn(rows.out[r0 + r] + u0, h, nv);
        if (a.g) {
          float* g = a.g + t * SH + u0;
          stn(g, i, nv);
          stn(g + H, f, nv);
          stn(g + 2 * H, gg, nv);
          stn(g + 3 * H, o, nv);
          stn(a.csave + t * H + u0, c, nv);
        }
      } else {  // GRU
        const vf rg = vsigmoid(acc[r][0] + b0);
        const vf z = vsigmoid(acc[r][1] + b1);
        const vf ah = acc[r][2] + b3;  // W_hn h + b_hn
        const vf n = vtanh(nx[r] + b2 + rg * ah);
        const vf hprev = ldn(rows.a[r0 + r] + I + u0, nv);
        const vf h = n + z * (hprev - n);
        stn(hnext, h, nv);
        stn(rows.out[r0 + r] + u0, h, nv);
        if (a.g) {
          float* g = a.g + t * SH + u0;
          stn(g, rg, nv);
          stn(g + H, z, nv);
          stn(g + 2 * H, n, nv);
          stn(g + 3 * H, ah, nv);
        }
      }
    }
  } else {  // RNN: NV vectors of consecutive hidden units
#pragma GCC unroll 6
    for (int r = 0; r < RB; ++r) {
      const int64_t t = rows.tok[r0 + r];
      float* hnext = a.xh + (t + a.step) * a.xs + I;
#pragma GCC unroll 4
      for (int q = 0; q < NV; ++q) {
        const int64_t u = u0 + q * L;
        const int nv = static_cast<int>(std::min<int64_t>(L, H - u));
        if (nv <= 0) break;
        const vf v = acc[r][q] + ldn(a.bias + u, nv);
        const vf h = MODE == kRNNTanh ? vtanh(v) : vrelu(v);
        stn(hnext + u, h, nv);
        stn(rows.out[r0 + r] + u, h, nv);
        if (a.g) stn(a.g + t * H + u, h, nv);
      }
    }
  }
}

template <int MODE>
void forward_task(const FwdArgs& a, const std::vector<int64_t>& rows) {
  const Plan& p = *a.p;
  const int64_t I = p.I, H = p.H, OS = p.D * H, n_all = rows.size();
  if (n_all == 0) return;
  constexpr int NV = fwd_nv(MODE);
  const int64_t TU = tile_units(MODE), tiles = ceil_div(H, TU), hs = ceil_div(H, L) * L;
  Scratch w(tiles * (I + H) * NV * L), cbuf(MODE == kLSTM ? n_all * hs : 1);
  pack_fwd<MODE>(a, w.p);
  if (MODE == kLSTM) std::memset(cbuf.p, 0, n_all * hs * sizeof(float));
  FwdRows live(n_all);
  const int64_t steps = p.len[rows[0]];
  int64_t n = n_all;
  for (int64_t s = 0; s < steps; ++s) {
    while (n > 0 && p.len[rows[n - 1]] <= s) --n;
    for (int64_t r = 0; r < n; ++r) {
      const int64_t b = rows[r], pos = a.step > 0 ? s : p.len[b] - 1 - s;
      live.tok[r] = p.base[b] + pos;
      live.a[r] = a.xh + live.tok[r] * a.xs;
      live.out[r] = a.out + (b * p.T + pos) * OS + a.d * H;
    }
    // Tile outer, rows inner: a tile's weights (K x NV vectors) stay in L1/L2 for all rows.
    for (int64_t j = 0; j < tiles; ++j) {
      const float* wt = w.p + j * (I + H) * NV * L;
      for_row_blocks(n, [&](int64_t r0, int rb) {
        with_rows(rb, [&](auto c) {
          fwd_block<MODE, decltype(c)::value>(a, live, r0, wt, j, cbuf.p, hs);
        });
      });
    }
  }
  // Final states: h went to the row after the last processed token (a separator row).
  for (int64_t r = 0; r < n_all; ++r) {
    const int64_t b = rows[r];
    const int64_t after = a.step > 0 ? p.base[b] + p.len[b] : p.base[b] - 1;
    std::memcpy(a.h_n + b * H, a.xh + after * a.xs + I, H * sizeof(float));
    if (MODE == kLSTM) std::memcpy(a.c_n + b * H, cbuf.p + r * hs, H * sizeof(float));
  }
}

// ------------------------------------------------------------------------------ backward
struct BwdArgs {
  const Plan* p;
  int64_t d;
  int64_t step;         // +1 forward, -1 reverse (as in the forward pass)
  float* g;             // (R, S*H): saved activations in, their pre-activation gradients out
  const float* csave;   // LSTM: (R, H)
  const float* xh;      // (R, xs): GRU reads h_prev
  int64_t xs;
  const float* dout;    // (B, T, D*H) or null
  const float* dh_n;    // (B, H) or null
  const float* dc_n;    // LSTM: (B, H) or null
  const float* w_ih;    // (G*H, I)
  const float* w_hh;    // (G*H, H)
  float* dx;            // (R, I) this direction's share of dx, or null
  float* db;            // (S*H) accumulator of this task
};

// acc = sum over the segments (off1, k1) and (off2, k2) of the gradient rows a (k2 may be 0);
// wt holds the packed weight rows of both segments one after the other.
template <int RB>
PL_INLINE void bwd_gemm(const float* const* a, const float* wt, int64_t off1, int64_t k1,
                        int64_t off2, int64_t k2, vf (&acc)[RB][NQ]) {
  zero(acc);
  gemm_acc<RB, NQ>(a, off1, k1, wt, acc);
  if (k2 > 0) gemm_acc<RB, NQ>(a, off2, k2, wt + k1 * NB, acc);
}

// Gate gradients of one live row (all tiles of L hidden units), written over the saved
// activations; dh (this row's gradient w.r.t. its h after this token) is consumed and, for the
// GRU, replaced by the direct part z * dh of dh_prev (the products add the rest).
template <int MODE>
PL_INLINE void bwd_row(const BwdArgs& a, int64_t tok, const float* doutp, float* dhr, float* dcr,
                       float* dbacc, int64_t hs) {
  const Plan& p = *a.p;
  const int64_t I = p.I, H = p.H, S = slots_of(MODE), SH = S * H, OS = p.D * H;
  const int64_t tiles = ceil_div(H, L);
  float* g0 = a.g + tok * SH;
  // This row's lines of its next (earlier) step, fetched into L2 a step ahead.
  {
    const float* gn = g0 - a.step * SH;
    for (int64_t j = 0; j < tiles; j += std::max<int64_t>(1, 16 / L)) {
      for (int64_t s = 0; s < S; ++s) prefetch(gn + s * H + j * L);
      if (MODE == kLSTM) prefetch(a.csave + (tok - 2 * a.step) * H + j * L);
      if (MODE == kGRU) prefetch(a.xh + (tok - a.step) * a.xs + I + j * L);
      if (doutp) prefetch(doutp - a.step * OS + j * L);
      if (a.dx && j * L < I) prefetch(a.dx + (tok - a.step) * I + j * L);
    }
  }
  for (int64_t j = 0; j < tiles; ++j) {
    const int nv = static_cast<int>(std::min<int64_t>(L, H - j * L));
    float* g = g0 + j * L;
    vf dhv = ld(dhr + j * L);
    if (doutp) dhv += ldn(doutp + j * L, nv);
    float* dbp = dbacc + j * L;
    if constexpr (MODE == kLSTM) {
      const float* c0 = a.csave + tok * H;
      const float* cp0 = c0 - a.step * H;  // c before this token: zero separator at the start
      const vf i = ldn(g, nv), f = ldn(g + H, nv), gg = ldn(g + 2 * H, nv),
               o = ldn(g + 3 * H, nv);
      const vf c = ldn(c0 + j * L, nv), cprev = ldn(cp0 + j * L, nv);
      float* dcp = dcr + j * L;
      const vf tc = vtanh(c);
      const vf dct = ld(dcp) + dhv * o * (1.0f - tc * tc);
      const vf di = dct * gg * i * (1.0f - i);
      const vf df = dct * cprev * f * (1.0f - f);
      const vf dg = dct * i * (1.0f - gg * gg);
      const vf dov = dhv * tc * o * (1.0f - o);
      st(dcp, dct * f);
      stn(g, di, nv);
      stn(g + H, df, nv);
      stn(g + 2 * H, dg, nv);
      stn(g + 3 * H, dov, nv);
      st(dbp, ld(dbp) + di);
      st(dbp + hs, ld(dbp + hs) + df);
      st(dbp + 2 * hs, ld(dbp + 2 * hs) + dg);
      st(dbp + 3 * hs, ld(dbp + 3 * hs) + dov);
    } else if constexpr (MODE == kGRU) {
      const vf r = ldn(g, nv), z = ldn(g + H, nv), n = ldn(g + 2 * H, nv),
               ah = ldn(g + 3 * H, nv);
      const vf hprev = ldn(a.xh + tok * a.xs + I + j * L, nv);
      const vf dn = dhv * (1.0f - z) * (1.0f - n * n);  // d(pre-activation of n)
      const vf dz = dhv * (hprev - n) * z * (1.0f - z);
      const vf dr = dn * ah * r * (1.0f - r);
      const vf dnh = dn * r;  // d(W_hn h + b_hn)
      st(dhr + j * L, dhv * z);
      stn(g, dr, nv);
      stn(g + H, dz, nv);
      stn(g + 2 * H, dn, nv);
      stn(g + 3 * H, dnh, nv);
      st(dbp, ld(dbp) + dr);
      st(dbp + hs, ld(dbp + hs) + dz);
      st(dbp + 2 * hs, ld(dbp + 2 * hs) + dn);
      st(dbp + 3 * hs, ld(dbp + 3 * hs) + dnh);
    } else {  // RNN: g holds h'
      const vf h = ldn(g, nv);
      const vf dpre = MODE == kRNNTanh ? dhv * (1.0f - h * h) : (h > vf{} ? dhv : vf{});
      stn(g, dpre, nv);
      st(dbp, ld(dbp) + dpre);
    }
  }
}

template <int MODE>
void backward_task(const BwdArgs& a, const std::vector<int64_t>& rows) {
  const Plan& p = *a.p;
  const int64_t I = p.I, H = p.H, G = gates_of(MODE), S = slots_of(MODE), SH = S * H;
  const int64_t OS = p.D * H, n_all = rows.size();
  if (n_all == 0) return;
  const int64_t hs = ceil_div(H, L) * L;
  const int64_t th = ceil_div(H, NB), ds = th * NB, tx = a.dx ? ceil_div(I, NB) : 0;
  const int64_t KG = G * H;  // rows of W_ih and W_hh
  // The products' segments of the gradient row g (offset, length): dh_prev = dgates_h @ W_hh,
  // dx = dgates_x @ W_ih. GRU rows hold [dr, dz, dn_x, dn_h]: dgates_h = [dr, dz, dn_h] (two
  // segments), dgates_x = [dr, dz, dn_x] (the first 3H).
  const int64_t h_k1 = MODE == kGRU ? 2 * H : KG, h_off2 = 3 * H, h_k2 = MODE == kGRU ? H : 0;
  Scratch wh(th * KG * NB), wx(std::max<int64_t>(tx, 1) * KG * NB), dh(n_all * ds),
      dc(MODE == kLSTM ? n_all * hs : 1), dbacc(S * hs);
  pack_cols(a.w_hh, H, KG, H, wh.p);           // dh_prev = dgates @ W_hh
  if (a.dx) pack_cols(a.w_ih, I, KG, I, wx.p);  // dx = dgates @ W_ih
  std::memset(dh.p, 0, n_all * ds * sizeof(float));
  if (MODE == kLSTM) std::memset(dc.p, 0, n_all * hs * sizeof(float));
  std::memset(dbacc.p, 0, S * hs * sizeof(float));
  for (int64_t r = 0; r < n_all; ++r) {  // the final states' gradients enter at the last step
    const int64_t b = rows[r];
    if (a.dh_n) std::memcpy(dh.p + r * ds, a.dh_n + b * H, H * sizeof(float));
    if (MODE == kLSTM && a.dc_n) std::memcpy(dc.p + r * hs, a.dc_n + b * H, H * sizeof(float));
  }
  std::vector<int64_t> tok(n_all);
  std::vector<const float*> grow(n_all);
  std::vector<float*> dxrow(n_all);
  const int64_t steps = p.len[rows[0]];
  int64_t n = 0;
  for (int64_t s = steps - 1; s >= 0; --s) {
    while (n < n_all && p.len[rows[n]] > s) ++n;
    for (int64_t r = 0; r < n; ++r) {
      const int64_t b = rows[r], pos = a.step > 0 ? s : p.len[b] - 1 - s;
      tok[r] = p.base[b] + pos;
      grow[r] = a.g + tok[r] * SH;
      dxrow[r] = a.dx ? a.dx + tok[r] * I : nullptr;
      const float* doutp = a.dout ? a.dout + (b * p.T + pos) * OS + a.d * H : nullptr;
      bwd_row<MODE>(a, tok[r], doutp, dh.p + r * ds, MODE == kLSTM ? dc.p + r * hs : nullptr,
                    dbacc.p, hs);
    }
    // dh_prev = dgates @ W_hh (not needed before the first step) and dx = dgates @ W_ih;
    // column tile outer, rows inner (a tile's weights stay in L2 for all rows).
    if (s > 0)
      for (int64_t c = 0; c < th; ++c) {
        const float* wt = wh.p + c * KG * NB;
        for_row_blocks(n, [&](int64_t r0, int rb) {
          with_rows(rb, [&](auto cr) {
            constexpr int RB = decltype(cr)::value;
            vf acc[RB][NQ];
            bwd_gemm<RB>(grow.data() + r0, wt, 0, h_k1, h_off2, h_k2, acc);
            float* d0 = dh.p + r0 * ds + c * NB;
#pragma GCC unroll 6
            for (int r = 0; r < RB; ++r)
#pragma GCC unroll 4
              for (int q = 0; q < NQ; ++q) {
                float* dp = d0 + r * ds + q * L;
                st(dp, MODE == kGRU ? ld(dp) + acc[r][q] : acc[r][q]);
              }
          });
        });
      }
    for (int64_t c = 0; c < tx; ++c) {
      const float* wt = wx.p + c * KG * NB;
      const int nvalid = static_cast<int>(std::min<int64_t>(NB, I - c * NB));
      for_row_blocks(n, [&](int64_t r0, int rb) {
        with_rows(rb, [&](auto cr) {
          constexpr int RB = decltype(cr)::value;
          vf acc[RB][NQ];
          bwd_gemm<RB>(grow.data() + r0, wt, 0, MODE == kGRU ? 3 * H : KG, 0, 0, acc);
#pragma GCC unroll 6
          for (int r = 0; r < RB; ++r)
#pragma GCC unroll 4
            for (int q = 0; q < NQ; ++q)
              stn(dxrow[r0 + r] + c * NB + q * L, acc[r][q], nvalid - q * L);
        });
      });
    }
  }
  for (int64_t q = 0; q < S; ++q)
    for (int64_t u = 0; u < H; ++u) a.db[q * H + u] += dbacc.p[q * hs + u];
}

// ------------------------------------------------------------------------------ entry points
int check_mode(int64_t mode) {
  TORCH_CHECK(mode >= 0 && mode <= 3, "mode: expected 0 (LSTM), 1 (GRU), 2 (RNN_TANH) or 3 "
              "(RNN_RELU), got ", mode);
  return static_cast<int>(mode);
}

void check_weights(const std::vector<at::Tensor>& w, int64_t D, int64_t I, int64_t G, int64_t& H) {
  TORCH_CHECK(static_cast<int64_t>(w.size()) == 4 * D,
              "weights: expected 4 tensors (w_ih, w_hh, b_ih, b_hh) per direction");
  TORCH_CHECK(w[0].dim() == 2 && w[0].size(0) % G == 0 && w[0].size(0) > 0,
              "w_ih: expected (", G, "H, I), got ", w[0].sizes());
  H = w[0].size(0) / G;
  for (int64_t d = 0; d < D; ++d) {
    const auto& wih = w[4 * d];
    const auto& whh = w[4 * d + 1];
    TORCH_CHECK(wih.dim() == 2 && wih.size(0) == G * H && wih.size(1) == I,
                "w_ih: expected (", G, "H, I) = (", G * H, ", ", I, "), got ", wih.sizes());
    TORCH_CHECK(whh.dim() == 2 && whh.size(0) == G * H && whh.size(1) == H,
                "w_hh: expected (", G, "H, H) = (", G * H, ", ", H, "), got ", whh.sizes());
    TORCH_CHECK(w[4 * d + 2].numel() == G * H && w[4 * d + 3].numel() == G * H,
                "b_ih / b_hh: expected (", G, "H,) = (", G * H, ",)");
    for (int64_t q = 0; q < 4; ++q)
      TORCH_CHECK(w[4 * d + q].scalar_type() == at::kFloat && w[4 * d + q].device().is_cpu(),
                  "weights: expected float32 CPU tensors");
  }
}

template <class F>
void dispatch(int mode, F&& f) {
  switch (mode) {
    case kLSTM: f(std::integral_constant<int, kLSTM>{}); break;
    case kGRU: f(std::integral_constant<int, kGRU>{}); break;
    case kRNNTanh: f(std::integral_constant<int, kRNNTanh>{}); break;
    default: f(std::integral_constant<int, kRNNRelu>{}); break;
  }
}

// Returns {out (B, T, D*H), h_n (D, B, H), c_n (D, B, H) (LSTM; else undefined), XH (D, R, xs),
//          G (D, R, S*H), csave (D, R, H) (LSTM)}; G and csave are undefined when save is false.
std::vector<at::Tensor> rnn_forward(int64_t mode_in, const at::Tensor& x_in,
                                    const at::Tensor& lengths,
                                    const std::vector<at::Tensor>& weights,
                                    const std::vector<bool>& reverse, bool save) {
  const int mode = check_mode(mode_in);
  TORCH_CHECK(x_in.dim() == 3 && x_in.scalar_type() == at::kFloat && x_in.device().is_cpu(),
              "x: expected a (B, T, I) float32 CPU tensor");
  const int64_t D = reverse.size();
  TORCH_CHECK(D >= 1, "expected at least one direction");
  const at::Tensor x = x_in.contiguous();
  const int64_t B = x.size(0), T = x.size(1), I = x.size(2);
  TORCH_CHECK(B >= 1 && T >= 1 && I >= 1, "x: expected a non-empty batch");
  const int64_t G = gates_of(mode), S = slots_of(mode);
  int64_t H = 0;
  check_weights(weights, D, I, G, H);
  const Plan p = make_plan(lengths, T, I, H, D);
  const int64_t R = p.R, xs = ceil_div(I + H, L) * L;
  const auto opt = x.options();

  // XH per direction: x in every token row, zero h before each sequence's first processed
  // token, zero separator rows.
  at::Tensor xh = pooled_empty({D, R, xs});
  {
    float* xhp = xh.data_ptr<float>();
    const float* xsrc = x.data_ptr<float>();
    at::parallel_for(0, D * B, 4, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t d = t / B, b = t % B;
        float* m = xhp + d * R * xs;
        for (int64_t s = 0; s < p.len[b]; ++s)
          std::memcpy(m + (p.base[b] + s) * xs, xsrc + (b * T + s) * I, I * sizeof(float));
        const int64_t first = reverse[d] ? p.base[b] + p.len[b] - 1 : p.base[b];
        std::memset(m + first * xs + I, 0, H * sizeof(float));
      }
    });
    for (int64_t d = 0; d < D; ++d) zero_separators(xhp + d * R * xs, xs, p);
  }
  at::Tensor out = at::empty({B, T, D * H}, opt);
  {
    float* o = out.data_ptr<float>();
    for (int64_t b = 0; b < B; ++b)
      if (p.len[b] < T)
        std::memset(o + (b * T + p.len[b]) * D * H, 0, (T - p.len[b]) * D * H * sizeof(float));
  }
  at::Tensor h_n = at::empty({D, B, H}, opt), c_n;
  if (mode == kLSTM) c_n = at::empty({D, B, H}, opt);
  at::Tensor g, csave;
  if (save) {
    g = pooled_empty({D, R, S * H});
    if (mode == kLSTM) {
      csave = pooled_empty({D, R, H});
      for (int64_t d = 0; d < D; ++d) zero_separators(csave.data_ptr<float>() + d * R * H, H, p);
    }
  }
  std::vector<at::Tensor> wih(D), whh(D), bias(D);
  for (int64_t d = 0; d < D; ++d) {
    wih[d] = weights[4 * d].contiguous();
    whh[d] = weights[4 * d + 1].contiguous();
    const at::Tensor bi = weights[4 * d + 2].reshape({-1}), bh = weights[4 * d + 3].reshape({-1});
    if (mode == kGRU)  // [b_ir + b_hr, b_iz + b_hz, b_in, b_hn]
      bias[d] = at::cat({bi.narrow(0, 0, 2 * H).add(bh.narrow(0, 0, 2 * H)),
                         bi.narrow(0, 2 * H, H), bh.narrow(0, 2 * H, H)})
                    .contiguous();
    else
      bias[d] = bi.add(bh).contiguous();
  }
  const int64_t ng = p.groups.size();
  at::parallel_for(0, D * ng, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t d = t % D;
      FwdArgs a;
      a.p = &p;
      a.d = d;
      a.step = reverse[d] ? -1 : 1;
      a.xh = xh.data_ptr<float>() + d * R * xs;
      a.xs = xs;
      a.g = save ? g.data_ptr<float>() + d * R * S * H : nullptr;
      a.csave = save && mode == kLSTM ? csave.data_ptr<float>() + d * R * H : nullptr;
      a.out = out.data_ptr<float>();
      a.h_n = h_n.data_ptr<float>() + d * B * H;
      a.c_n = mode == kLSTM ? c_n.data_ptr<float>() + d * B * H : nullptr;
      a.w_ih = wih[d].data_ptr<float>();
      a.w_hh = whh[d].data_ptr<float>();
      a.bias = bias[d].data_ptr<float>();
      dispatch(mode, [&](auto m) { forward_task<decltype(m)::value>(a, p.groups[t / D]); });
    }
  });
  return {out, h_n, c_n, xh, g, csave};
}

// Returns {dx (B, T, I) or undefined, then per direction dW_ih, dW_hh, db_ih, db_hh}.
// Overwrites G.
std::vector<at::Tensor> rnn_backward(int64_t mode_in, const c10::optional<at::Tensor>& dout_in,
                                     const c10::optional<at::Tensor>& dh_n_in,
                                     const c10::optional<at::Tensor>& dc_n_in,
                                     const at::Tensor& lengths, const at::Tensor& xh,
                                     at::Tensor g, const c10::optional<at::Tensor>& csave_in,
                                     const std::vector<at::Tensor>& weights,
                                     const std::vector<bool>& reverse, int64_t T, bool need_dx) {
  const int mode = check_mode(mode_in);
  const int64_t D = reverse.size(), I = weights.at(0).size(1);
  const int64_t G = gates_of(mode), S = slots_of(mode);
  int64_t H = 0;
  check_weights(weights, D, I, G, H);
  const Plan p = make_plan(lengths, T, I, H, D);
  const int64_t B = p.B, R = p.R, xs = xh.size(2);
  TORCH_CHECK(g.defined() && g.is_contiguous() && g.size(0) == D && g.size(1) == R &&
                  g.size(2) == S * H && xh.is_contiguous() && xh.size(1) == R && xs >= I + H,
              "saved tensors do not match the lengths");
  at::Tensor csave;
  if (mode == kLSTM) {
    TORCH_CHECK(csave_in.has_value() && csave_in->defined() && csave_in->is_contiguous() &&
                    csave_in->numel() == D * R * H,
                "saved cell states do not match the lengths");
    csave = *csave_in;
  }
  at::Tensor dout, dh_n, dc_n;
  if (dout_in.has_value() && dout_in->defined()) dout = dout_in->contiguous();
  if (dh_n_in.has_value() && dh_n_in->defined()) dh_n = dh_n_in->contiguous();
  if (dc_n_in.has_value() && dc_n_in->defined() && mode == kLSTM) dc_n = dc_n_in->contiguous();
  std::vector<at::Tensor> wih(D), whh(D);
  for (int64_t d = 0; d < D; ++d) {
    wih[d] = weights[4 * d].contiguous();
    whh[d] = weights[4 * d + 1].contiguous();
  }
  const auto opt = g.options();
  at::Tensor dxp = need_dx ? pooled_empty({D, R, I}) : at::Tensor();
  const int64_t ng = p.groups.size();
  at::Tensor dbt = at::zeros({ng, D, S * H}, opt);
  // Weight gradients: dgates^T @ [x | h_prev] over all rows (separator rows zeroed first).
  // LSTM, RNN: one GEMM, (G H, I + H). GRU: [dr, dz]^T @ [x | h] (2H, I + H), then the n gate's
  // input and recurrent parts, dn_x^T @ x (H, I) and dn_h^T @ h (H, H).
  std::vector<at::Tensor> dwi(D), dwh(D);
  auto weight_grad = [&](int64_t d) {
    zero_separators(g.data_ptr<float>() + d * R * S * H, S * H, p);
    const at::Tensor gd = g[d], xd = xh[d];
    if (mode == kGRU) {
      const at::Tensor rz = at::mm(gd.narrow(1, 0, 2 * H).t(), xd.narrow(1, 0, I + H));
      const at::Tensor n_i = at::mm(gd.narrow(1, 2 * H, H).t(), xd.narrow(1, 0, I));
      const at::Tensor n_h = at::mm(gd.narrow(1, 3 * H, H).t(), xd.narrow(1, I, H));
      dwi[d] = at::cat({rz.narrow(1, 0, I), n_i});
      dwh[d] = at::cat({rz.narrow(1, I, H), n_h});
    } else {
      const at::Tensor dw = at::mm(gd.t(), xd.narrow(1, 0, I + H));  // (G H, I + H)
      dwi[d] = dw.narrow(1, 0, I).contiguous();
      dwh[d] = dw.narrow(1, I, H).contiguous();
    }
  };
  // With one task per direction, that task goes on to its direction's GEMM (single-threaded
  // inside the parallel region), so the threads never wait for each other in between.
  const bool gemm_in_task = ng == 1 && D > 1;
  at::parallel_for(0, D * ng, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t d = t % D;
      BwdArgs a;
      a.p = &p;
      a.d = d;
      a.step = reverse[d] ? -1 : 1;
      a.g = g.data_ptr<float>() + d * R * S * H;
      a.csave = mode == kLSTM ? csave.data_ptr<float>() + d * R * H : nullptr;
      a.xh = xh.data_ptr<float>() + d * R * xs;
      a.xs = xs;
      a.dout = dout.defined() ? dout.data_ptr<float>() : nullptr;
      a.dh_n = dh_n.defined() ? dh_n.data_ptr<float>() + d * B * H : nullptr;
      a.dc_n = dc_n.defined() ? dc_n.data_ptr<float>() + d * B * H : nullptr;
      a.w_ih = wih[d].data_ptr<float>();
      a.w_hh = whh[d].data_ptr<float>();
      a.dx = need_dx ? dxp.data_ptr<float>() + d * R * I : nullptr;
      a.db = dbt.data_ptr<float>() + t * S * H;  // t = group * D + d
      dispatch(mode, [&](auto m) { backward_task<decltype(m)::value>(a, p.groups[t / D]); });
      if (gemm_in_task) weight_grad(d);
    }
  });
  if (!gemm_in_task)
    for (int64_t d = 0; d < D; ++d) weight_grad(d);
  std::vector<at::Tensor> res;
  if (need_dx) {  // dx[b, t] = sum over directions; zero at padded steps
    at::Tensor dx = at::empty({B, T, I}, opt);
    float* dst = dx.data_ptr<float>();
    const float* src = dxp.data_ptr<float>();
    at::parallel_for(0, B, 4, [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b) {
        float* o = dst + b * T * I;
        std::memcpy(o, src + p.base[b] * I, p.len[b] * I * sizeof(float));
        for (int64_t d = 1; d < D; ++d) {
          const float* q = src + (d * R + p.base[b]) * I;
          for (int64_t k = 0; k < p.len[b] * I; ++k) o[k] += q[k];
        }
        if (p.len[b] < T) std::memset(o + p.len[b] * I, 0, (T - p.len[b]) * I * sizeof(float));
      }
    });
    res.push_back(dx);
  } else {
    res.push_back(at::Tensor());
  }
  const at::Tensor db = dbt.sum(0);  // (D, S*H)
  for (int64_t d = 0; d < D; ++d) {
    res.push_back(dwi[d]);
    res.push_back(dwh[d]);
    if (mode == kGRU) {  // db rows [dr, dz, dn_x, dn_h]
      res.push_back(db[d].narrow(0, 0, 3 * H).contiguous());
      res.push_back(at::cat({db[d].narrow(0, 0, 2 * H), db[d].narrow(0, 3 * H, H)}));
    } else {
      res.push_back(db[d].contiguous());
      res.push_back(db[d].clone());
    }
  }
  return res;
}

std::vector<std::string> modes() { return {kModeNames, kModeNames + 4}; }

// The build's vector ISA, lanes per vector and rows per register block.
std::string isa() {
  return std::string(PL_ISA) + " lanes=" + std::to_string(L) + " rows=" + std::to_string(RB_MAX);
}

}  // namespace

// The kernels touch no Python object: they release the GIL, so other Python threads (a
// server's event loop, data loading) run while a batch is computed. The workspace pool has its
// own mutex.
PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("forward", &rnn_forward,
        "fused variable-length recurrent layer forward (float32 CPU); mode 0 LSTM, 1 GRU, "
        "2 RNN_TANH, 3 RNN_RELU",
        py::call_guard<py::gil_scoped_release>());
  m.def("backward", &rnn_backward, "fused variable-length recurrent layer backward",
        py::call_guard<py::gil_scoped_release>());
  m.def("release_workspace", &pool_release,
        "release the free pooled workspace blocks (and set the cap if >= 0); returns bytes in use",
        py::call_guard<py::gil_scoped_release>());
  m.def("modes", &modes, "the modes this build supports, in mode-number order");
  m.def("isa", &isa, "the vector ISA and register blocking this build was compiled for");
}
