// Fused, exact, variable-length LSTM layer (one or more directions) for float32 CPU tensors.
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
//   backward: [dh_prev | dx] = dgates[row] @ [W_hh | W_ih]     one fused product per step
//             [dW_ih | dW_hh] = dgates^T @ XH                  one GEMM over all rows afterwards
// and padded steps cost nothing anywhere. The backward pass writes the gate gradients over the
// saved activated gates (no extra buffer), so it can run only once per forward pass.
//
// Every batch row is an independent recurrence, so the work is split into tasks (direction x
// group of rows) that never synchronise: with 2 threads and 2 directions each thread runs one
// direction from start to end. Rows are sorted by length (descending) inside a task, so the rows
// alive at step s are a prefix of the task's rows. The per-step products are register-blocked
// (6 rows x 64 columns) with the gate nonlinearities applied while the sums are in registers.

// Narrow includes (not torch/extension.h): the first build takes a fraction of the time.
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
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
#include <type_traits>
#include <vector>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#define PL_INLINE inline __attribute__((always_inline))

namespace {

// ------------------------------------------------------------------------------ SIMD helpers
// GCC/Clang vector extensions: AVX-512 registers with -march=native on such machines, split
// into narrower registers elsewhere (correct everywhere, fastest where AVX-512 exists).
typedef float vf __attribute__((vector_size(64)));
typedef float vfu __attribute__((vector_size(64), aligned(4)));
typedef int32_t vi __attribute__((vector_size(64)));
constexpr int L = 16;      // lanes per vector
constexpr int NB = 64;     // columns per register block (4 vectors)
constexpr int RB_MAX = 6;  // rows per register block: 6 x 4 = 24 accumulators

PL_INLINE vf splat(float a) { return vf{} + a; }
PL_INLINE vf ld(const float* p) { return *reinterpret_cast<const vfu*>(p); }
PL_INLINE void st(float* p, vf v) { *reinterpret_cast<vfu*>(p) = v; }

// Load / store the first n lanes (n <= 0: none); the rest read as zero.
PL_INLINE vf ldn(const float* p, int n) {
  if (n >= L) return ld(p);
#if defined(__AVX512F__)
  return (vf)_mm512_maskz_loadu_ps((__mmask16)((1u << std::max(n, 0)) - 1u), p);
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

PL_INLINE void prefetch(const void* p) { __builtin_prefetch(p, 0, 2); }  // into L2

// Aligned scratch memory, not zeroed.
struct Scratch {
  float* p = nullptr;
  explicit Scratch(size_t n) {
    p = static_cast<float*>(std::aligned_alloc(64, ((n * sizeof(float) + 63) / 64) * 64 + 64));
    TORCH_CHECK(p != nullptr, "padless lstm: out of memory for a scratch buffer");
  }
  ~Scratch() { std::free(p); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
};

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Calls f(std::integral_constant<int, rb>) for a runtime rb in [1, RB_MAX].
template <class F>
PL_INLINE void with_rows(int rb, F&& f) {
  switch (rb) {
    case 6: f(std::integral_constant<int, 6>{}); break;
    case 5: f(std::integral_constant<int, 5>{}); break;
    case 4: f(std::integral_constant<int, 4>{}); break;
    case 3: f(std::integral_constant<int, 3>{}); break;
    case 2: f(std::integral_constant<int, 2>{}); break;
    default: f(std::integral_constant<int, 1>{}); break;
  }
}

// acc[r][q] = sum_k a[r][k] * w[k * 64 + 16 q]: RB rows (given by pointers) x 64 columns.
template <int RB>
PL_INLINE void gemm_block(const float* const* a, const float* __restrict w, int64_t K,
                          vf (&acc)[RB][4]) {
  const float* ap[RB];
#pragma GCC unroll 6
  for (int r = 0; r < RB; ++r) {
    ap[r] = a[r];
    acc[r][0] = acc[r][1] = acc[r][2] = acc[r][3] = vf{};
  }
  for (int64_t k = 0; k < K; ++k) {
    const float* wk = w + k * NB;
    const vf w0 = ld(wk), w1 = ld(wk + 16), w2 = ld(wk + 32), w3 = ld(wk + 48);
#pragma GCC unroll 6
    for (int r = 0; r < RB; ++r) {
      const float x = ap[r][k];
      acc[r][0] += x * w0;
      acc[r][1] += x * w1;
      acc[r][2] += x * w2;
      acc[r][3] += x * w3;
    }
  }
}

// Packs the (K, N) row-major matrix m (rows k, columns n: m[k * ldm + n]) into column tiles of
// 64: out[(c * K + k) * 64 + l] = m[k, 64 c + l], zero past N.
void pack_cols(const float* m, int64_t ldm, int64_t K, int64_t N, float* out) {
  for (int64_t c = 0; c < ceil_div(N, NB); ++c)
    for (int64_t k = 0; k < K; ++k)
      for (int64_t l = 0; l < NB; ++l) {
        const int64_t n = c * NB + l;
        out[(c * K + k) * NB + l] = n < N ? m[k * ldm + n] : 0.0f;
      }
}

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
  float* g;           // (R, 4H): activated gates i, f, g, o, or null (no backward)
  float* csave;       // (R, H): c after each token, or null
  float* out;         // (B, T, D*H)
  float* h_n;         // (B, H)
  float* c_n;         // (B, H)
  const float* w_ih;  // (4H, I)
  const float* w_hh;  // (4H, H)
  const float* bias;  // (4H): b_ih + b_hh
};

// Packed [W_ih | W_hh] for the forward step: tile j (16 hidden units) holds, for every k < I+H,
// the four gates' 16 weights: w[((j * K + k) * 4 + g) * 16 + l] = W[g*H + 16j + l, k].
void pack_fwd(const FwdArgs& a, float* w) {
  const int64_t I = a.p->I, H = a.p->H, K = I + H;
  for (int64_t j = 0; j < ceil_div(H, L); ++j)
    for (int64_t k = 0; k < K; ++k)
      for (int64_t g = 0; g < 4; ++g)
        for (int64_t l = 0; l < L; ++l) {
          const int64_t u = j * L + l;
          float v = 0.0f;
          if (u < H) v = k < I ? a.w_ih[(g * H + u) * I + k] : a.w_hh[(g * H + u) * H + k - I];
          w[((j * K + k) * 4 + g) * L + l] = v;
        }
}

struct FwdRows {  // per live row of the current step
  std::vector<int64_t> tok;
  std::vector<const float*> a;  // XH row of the token: the GEMM operand
  std::vector<float*> out;      // out[b, pos] of this direction
  explicit FwdRows(size_t n) : tok(n), a(n), out(n) {}
};

// RB rows x 16 hidden units: the four gates' sums, then the cell update, in registers.
template <int RB>
PL_INLINE void fwd_block(const FwdArgs& a, const FwdRows& rows, int64_t r0, const float* wt,
                         int64_t j, float* cst, int64_t hs) {
  const int64_t I = a.p->I, H = a.p->H, K = I + H, G4 = 4 * H;
  const int nv = static_cast<int>(std::min<int64_t>(L, H - j * L));
  vf acc[RB][4];
  gemm_block<RB>(rows.a.data() + r0, wt, K, acc);
  // The lines these rows touch at their next step, fetched into L2 a step ahead.
  const int64_t tiles = ceil_div(H, L), xlines = ceil_div(I, L);
#pragma GCC unroll 6
  for (int r = 0; r < RB; ++r) {
    const int64_t t = rows.tok[r0 + r] + a.step;
    for (int64_t q = j; q < xlines; q += tiles) prefetch(a.xh + t * a.xs + q * L);
    prefetch(rows.out[r0 + r] + a.step * a.p->D * H + j * L);
    if (a.g) {
      float* g = a.g + t * G4 + j * L;
      prefetch(g);
      prefetch(g + H);
      prefetch(g + 2 * H);
      prefetch(g + 3 * H);
      prefetch(a.csave + t * H + j * L);
    }
  }
  const float* bj = a.bias + j * L;
  const vf bi = ldn(bj, nv), bf = ldn(bj + H, nv), bg = ldn(bj + 2 * H, nv),
           bo = ldn(bj + 3 * H, nv);
#pragma GCC unroll 6
  for (int r = 0; r < RB; ++r) {
    const int64_t t = rows.tok[r0 + r];
    const vf i = vsigmoid(acc[r][0] + bi);
    const vf f = vsigmoid(acc[r][1] + bf);
    const vf gg = vtanh(acc[r][2] + bg);
    const vf o = vsigmoid(acc[r][3] + bo);
    float* cp = cst + (r0 + r) * hs + j * L;
    const vf c = f * ld(cp) + i * gg;
    const vf h = o * vtanh(c);
    st(cp, c);
    stn(a.xh + (t + a.step) * a.xs + I + j * L, h, nv);  // operand of the next token
    stn(rows.out[r0 + r] + j * L, h, nv);
    if (a.g) {
      float* g = a.g + t * G4 + j * L;
      stn(g, i, nv);
      stn(g + H, f, nv);
      stn(g + 2 * H, gg, nv);
      stn(g + 3 * H, o, nv);
      stn(a.csave + t * H + j * L, c, nv);
    }
  }
}

void forward_task(const FwdArgs& a, const std::vector<int64_t>& rows) {
  const Plan& p = *a.p;
  const int64_t I = p.I, H = p.H, OS = p.D * H, n_all = rows.size();
  if (n_all == 0) return;
  const int64_t tiles = ceil_div(H, L), hs = tiles * L;
  Scratch w(tiles * (I + H) * 4 * L), cbuf(n_all * hs);
  pack_fwd(a, w.p);
  std::memset(cbuf.p, 0, n_all * hs * sizeof(float));
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
    for (int64_t j = 0; j < tiles; ++j) {
      const float* wt = w.p + j * (I + H) * 4 * L;
      for (int64_t r0 = 0; r0 < n; r0 += RB_MAX) {
        with_rows(static_cast<int>(std::min<int64_t>(RB_MAX, n - r0)), [&](auto rb) {
          fwd_block<decltype(rb)::value>(a, live, r0, wt, j, cbuf.p, hs);
        });
      }
    }
  }
  // Final states: h went to the row after the last processed token (a separator row).
  for (int64_t r = 0; r < n_all; ++r) {
    const int64_t b = rows[r];
    const int64_t after = a.step > 0 ? p.base[b] + p.len[b] : p.base[b] - 1;
    std::memcpy(a.h_n + b * H, a.xh + after * a.xs + I, H * sizeof(float));
    std::memcpy(a.c_n + b * H, cbuf.p + r * hs, H * sizeof(float));
  }
}

// ------------------------------------------------------------------------------ backward
struct BwdArgs {
  const Plan* p;
  int64_t d;
  int64_t step;         // +1 forward, -1 reverse (as in the forward pass)
  float* g;             // (R, 4H): activated gates in, gate gradients (pre-activation) out
  const float* csave;   // (R, H)
  const float* dout;    // (B, T, D*H) or null
  const float* dh_n;    // (B, H) or null
  const float* dc_n;    // (B, H) or null
  const float* w_ih;    // (4H, I)
  const float* w_hh;    // (4H, H)
  float* dx;            // (R, I) this direction's share of dx, or null
  float* db;            // (4H) accumulator of this task
};

template <int RB>
PL_INLINE void bwd_dh_block(const float* const* a, const float* wt, int64_t K, float* dh,
                            int64_t ds) {
  vf acc[RB][4];
  gemm_block<RB>(a, wt, K, acc);
#pragma GCC unroll 6
  for (int r = 0; r < RB; ++r)
    for (int q = 0; q < 4; ++q) st(dh + r * ds + q * L, acc[r][q]);
}

template <int RB>
PL_INLINE void bwd_dx_block(const float* const* a, const float* wt, int64_t K, float* const* dst,
                            int64_t col, int nvalid) {
  vf acc[RB][4];
  gemm_block<RB>(a, wt, K, acc);
#pragma GCC unroll 6
  for (int r = 0; r < RB; ++r)
    for (int q = 0; q < 4; ++q) stn(dst[r] + col + q * L, acc[r][q], nvalid - q * L);
}

void backward_task(const BwdArgs& a, const std::vector<int64_t>& rows) {
  const Plan& p = *a.p;
  const int64_t I = p.I, H = p.H, K = 4 * H, OS = p.D * H, n_all = rows.size();
  if (n_all == 0) return;
  const int64_t tiles = ceil_div(H, L), hs = tiles * L;
  const int64_t th = ceil_div(H, NB), ds = th * NB, tx = a.dx ? ceil_div(I, NB) : 0;
  Scratch wh(th * K * NB), wx(std::max<int64_t>(tx, 1) * K * NB), dh(n_all * ds), dc(n_all * hs),
      dbacc(4 * hs);
  pack_cols(a.w_hh, H, K, H, wh.p);  // dh_prev = dgates @ W_hh
  if (a.dx) pack_cols(a.w_ih, I, K, I, wx.p);  // dx = dgates @ W_ih
  std::memset(dh.p, 0, n_all * ds * sizeof(float));
  std::memset(dc.p, 0, n_all * hs * sizeof(float));
  std::memset(dbacc.p, 0, 4 * hs * sizeof(float));
  for (int64_t r = 0; r < n_all; ++r) {  // the final states' gradients enter at the last step
    const int64_t b = rows[r];
    if (a.dh_n) std::memcpy(dh.p + r * ds, a.dh_n + b * H, H * sizeof(float));
    if (a.dc_n) std::memcpy(dc.p + r * hs, a.dc_n + b * H, H * sizeof(float));
  }
  std::vector<int64_t> tok(n_all);
  std::vector<const float*> doutp(n_all), grow(n_all);
  std::vector<float*> dxrow(n_all);
  const int64_t steps = p.len[rows[0]];
  int64_t n = 0;
  for (int64_t s = steps - 1; s >= 0; --s) {
    while (n < n_all && p.len[rows[n]] > s) ++n;
    for (int64_t r = 0; r < n; ++r) {
      const int64_t b = rows[r], pos = a.step > 0 ? s : p.len[b] - 1 - s;
      tok[r] = p.base[b] + pos;
      doutp[r] = a.dout ? a.dout + (b * p.T + pos) * OS + a.d * H : nullptr;
      grow[r] = a.g + tok[r] * K;
      dxrow[r] = a.dx ? a.dx + tok[r] * I : nullptr;
    }
    // Gate gradients of every live row, over the saved activated gates.
    for (int64_t r = 0; r < n; ++r) {
      float* g0 = a.g + tok[r] * K;
      const float* c0 = a.csave + tok[r] * H;
      const float* cp0 = c0 - a.step * H;  // c before this token: zero separator at the start
      // This row's lines of its next (earlier) step, fetched into L2 a step ahead.
      const float* gn = g0 - a.step * K;
      for (int64_t j = 0; j < tiles; ++j) {
        prefetch(gn + j * L);
        prefetch(gn + H + j * L);
        prefetch(gn + 2 * H + j * L);
        prefetch(gn + 3 * H + j * L);
        prefetch(cp0 - a.step * H + j * L);
        if (doutp[r]) prefetch(doutp[r] - a.step * OS + j * L);
        if (a.dx && j * L < I) prefetch(dxrow[r] - a.step * I + j * L);
      }
      for (int64_t j = 0; j < tiles; ++j) {
        const int nv = static_cast<int>(std::min<int64_t>(L, H - j * L));
        float* g = g0 + j * L;
        const vf i = ldn(g, nv), f = ldn(g + H, nv), gg = ldn(g + 2 * H, nv),
                 o = ldn(g + 3 * H, nv);
        const vf c = ldn(c0 + j * L, nv), cprev = ldn(cp0 + j * L, nv);
        vf dhv = ld(dh.p + r * ds + j * L);
        if (doutp[r]) dhv += ldn(doutp[r] + j * L, nv);
        float* dcp = dc.p + r * hs + j * L;
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
        float* dbp = dbacc.p + j * L;
        st(dbp, ld(dbp) + di);
        st(dbp + hs, ld(dbp + hs) + df);
        st(dbp + 2 * hs, ld(dbp + 2 * hs) + dg);
        st(dbp + 3 * hs, ld(dbp + 3 * hs) + dov);
      }
    }
    // dh_prev = dgates @ W_hh (not needed before the first step) and dx = dgates @ W_ih.
    for (int64_t r0 = 0; r0 < n; r0 += RB_MAX) {
      with_rows(static_cast<int>(std::min<int64_t>(RB_MAX, n - r0)), [&](auto rb) {
        constexpr int RB = decltype(rb)::value;
        if (s > 0)
          for (int64_t c = 0; c < th; ++c)
            bwd_dh_block<RB>(grow.data() + r0, wh.p + c * K * NB, K, dh.p + r0 * ds + c * NB, ds);
        for (int64_t c = 0; c < tx; ++c)
          bwd_dx_block<RB>(grow.data() + r0, wx.p + c * K * NB, K, dxrow.data() + r0, c * NB,
                           static_cast<int>(std::min<int64_t>(NB, I - c * NB)));
      });
    }
  }
  for (int64_t g = 0; g < 4; ++g)
    for (int64_t u = 0; u < H; ++u) a.db[g * H + u] += dbacc.p[g * hs + u];
}

// ------------------------------------------------------------------------------ entry points
void check_weights(const std::vector<at::Tensor>& w, int64_t D, int64_t I, int64_t& H) {
  TORCH_CHECK(static_cast<int64_t>(w.size()) == 4 * D,
              "weights: expected 4 tensors (w_ih, w_hh, b_ih, b_hh) per direction");
  TORCH_CHECK(w[0].dim() == 2 && w[0].size(0) % 4 == 0 && w[0].size(0) > 0,
              "w_ih: expected (4H, I), got ", w[0].sizes());
  H = w[0].size(0) / 4;
  for (int64_t d = 0; d < D; ++d) {
    const auto& wih = w[4 * d];
    const auto& whh = w[4 * d + 1];
    TORCH_CHECK(wih.dim() == 2 && wih.size(0) == 4 * H && wih.size(1) == I,
                "w_ih: expected (4H, I) = (", 4 * H, ", ", I, "), got ", wih.sizes());
    TORCH_CHECK(whh.dim() == 2 && whh.size(0) == 4 * H && whh.size(1) == H,
                "w_hh: expected (4H, H) = (", 4 * H, ", ", H, "), got ", whh.sizes());
    TORCH_CHECK(w[4 * d + 2].numel() == 4 * H && w[4 * d + 3].numel() == 4 * H,
                "b_ih / b_hh: expected (4H,) = (", 4 * H, ",)");
    for (int64_t q = 0; q < 4; ++q)
      TORCH_CHECK(w[4 * d + q].scalar_type() == at::kFloat && w[4 * d + q].device().is_cpu(),
                  "weights: expected float32 CPU tensors");
  }
}

// Returns {out (B, T, D*H), h_n (D, B, H), c_n (D, B, H), XH (D, R, xs), G (D, R, 4H),
//          csave (D, R, H)}; G and csave are empty when save is false.
std::vector<at::Tensor> lstm_forward(const at::Tensor& x_in, const at::Tensor& lengths,
                                     const std::vector<at::Tensor>& weights,
                                     const std::vector<bool>& reverse, bool save) {
  TORCH_CHECK(x_in.dim() == 3 && x_in.scalar_type() == at::kFloat && x_in.device().is_cpu(),
              "x: expected a (B, T, I) float32 CPU tensor");
  const int64_t D = reverse.size();
  TORCH_CHECK(D >= 1, "expected at least one direction");
  const at::Tensor x = x_in.contiguous();
  const int64_t B = x.size(0), T = x.size(1), I = x.size(2);
  TORCH_CHECK(B >= 1 && T >= 1 && I >= 1, "x: expected a non-empty batch");
  int64_t H = 0;
  check_weights(weights, D, I, H);
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
  at::Tensor h_n = at::empty({D, B, H}, opt), c_n = at::empty({D, B, H}, opt);
  at::Tensor g, csave;
  if (save) {
    g = pooled_empty({D, R, 4 * H});
    csave = pooled_empty({D, R, H});
    for (int64_t d = 0; d < D; ++d) zero_separators(csave.data_ptr<float>() + d * R * H, H, p);
  }
  std::vector<at::Tensor> wih(D), whh(D), bias(D);
  for (int64_t d = 0; d < D; ++d) {
    wih[d] = weights[4 * d].contiguous();
    whh[d] = weights[4 * d + 1].contiguous();
    bias[d] = weights[4 * d + 2].add(weights[4 * d + 3]).contiguous();
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
      a.g = save ? g.data_ptr<float>() + d * R * 4 * H : nullptr;
      a.csave = save ? csave.data_ptr<float>() + d * R * H : nullptr;
      a.out = out.data_ptr<float>();
      a.h_n = h_n.data_ptr<float>() + d * B * H;
      a.c_n = c_n.data_ptr<float>() + d * B * H;
      a.w_ih = wih[d].data_ptr<float>();
      a.w_hh = whh[d].data_ptr<float>();
      a.bias = bias[d].data_ptr<float>();
      forward_task(a, p.groups[t / D]);
    }
  });
  return {out, h_n, c_n, xh, g, csave};
}

// Returns {dx (B, T, I) or undefined, then per direction dW_ih, dW_hh, db}. Overwrites G.
std::vector<at::Tensor> lstm_backward(const c10::optional<at::Tensor>& dout_in,
                                      const c10::optional<at::Tensor>& dh_n_in,
                                      const c10::optional<at::Tensor>& dc_n_in,
                                      const at::Tensor& lengths, const at::Tensor& xh,
                                      at::Tensor g, const at::Tensor& csave,
                                      const std::vector<at::Tensor>& weights,
                                      const std::vector<bool>& reverse, int64_t T, bool need_dx) {
  const int64_t D = reverse.size(), I = weights.at(0).size(1);
  int64_t H = 0;
  check_weights(weights, D, I, H);
  const Plan p = make_plan(lengths, T, I, H, D);
  const int64_t B = p.B, R = p.R, xs = xh.size(2);
  TORCH_CHECK(g.defined() && g.is_contiguous() && g.size(0) == D && g.size(1) == R &&
                  g.size(2) == 4 * H && xh.size(1) == R,
              "saved tensors do not match the lengths");
  at::Tensor dout, dh_n, dc_n;
  if (dout_in.has_value() && dout_in->defined()) dout = dout_in->contiguous();
  if (dh_n_in.has_value() && dh_n_in->defined()) dh_n = dh_n_in->contiguous();
  if (dc_n_in.has_value() && dc_n_in->defined()) dc_n = dc_n_in->contiguous();
  std::vector<at::Tensor> wih(D), whh(D);
  for (int64_t d = 0; d < D; ++d) {
    wih[d] = weights[4 * d].contiguous();
    whh[d] = weights[4 * d + 1].contiguous();
  }
  const auto opt = g.options();
  at::Tensor dxp = need_dx ? pooled_empty({D, R, I}) : at::Tensor();
  const int64_t ng = p.groups.size();
  at::Tensor dbt = at::zeros({ng, D, 4 * H}, opt);
  // [dW_ih | dW_hh] = dgates^T @ [x | h_prev] over all rows (separator rows zeroed first).
  std::vector<at::Tensor> dw(D);
  auto weight_grad = [&](int64_t d) {
    zero_separators(g.data_ptr<float>() + d * R * 4 * H, 4 * H, p);
    dw[d] = at::mm(g[d].t(), xh[d].narrow(1, 0, I + H));  // (4H, I + H)
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
      a.g = g.data_ptr<float>() + d * R * 4 * H;
      a.csave = csave.data_ptr<float>() + d * R * H;
      a.dout = dout.defined() ? dout.data_ptr<float>() : nullptr;
      a.dh_n = dh_n.defined() ? dh_n.data_ptr<float>() + d * B * H : nullptr;
      a.dc_n = dc_n.defined() ? dc_n.data_ptr<float>() + d * B * H : nullptr;
      a.w_ih = wih[d].data_ptr<float>();
      a.w_hh = whh[d].data_ptr<float>();
      a.dx = need_dx ? dxp.data_ptr<float>() + d * R * I : nullptr;
      a.db = dbt.data_ptr<float>() + t * 4 * H;  // t = group * D + d
      backward_task(a, p.groups[t / D]);
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
  const at::Tensor db = dbt.sum(0);  // (D, 4H)
  for (int64_t d = 0; d < D; ++d) {
    res.push_back(dw[d].narrow(1, 0, I).contiguous());
    res.push_back(dw[d].narrow(1, I, H).contiguous());
    res.push_back(db[d]);
  }
  return res;
}

}  // namespace

// The kernels touch no Python object: they release the GIL, so other Python threads (a
// server's event loop, data loading) run while a batch is computed. The workspace pool has its
// own mutex.
PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("forward", &lstm_forward, "fused variable-length LSTM forward (float32 CPU)",
        py::call_guard<py::gil_scoped_release>());
  m.def("backward", &lstm_backward, "fused variable-length LSTM backward (float32 CPU)",
        py::call_guard<py::gil_scoped_release>());
  m.def("release_workspace", &pool_release,
        "release the free pooled workspace blocks (and set the cap if >= 0); returns bytes in use",
        py::call_guard<py::gil_scoped_release>());
}
