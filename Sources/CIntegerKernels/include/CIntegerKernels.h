#ifndef VQCODEC_CINTEGERKERNELS_H
#define VQCODEC_CINTEGERKERNELS_H

// The integer prior's inner loops: products of Int16 matrices with Int32 accumulation.
//
// Integer arithmetic only, and every sum is taken modulo 2^32 (two's-complement wrap-around, as
// Swift's &+ and &*), so the result does not depend on the order of the additions: the AVX2 path,
// chosen at run time on CPUs that have it, and the portable path return the same bits on every
// machine. (A valid integer prior never wraps at all: its accumulator budget keeps every sum in
// the Int32 range; see Formats/prior.md.)

#include <stdint.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// c[i·ldc + j] += Σ_{t < k} a[i·lda + t] · w[j·ldw + t]   for i < m, j < n.
///
/// Rows of `a` (inputs: positions) and of `w` (weights: output channels) are contiguous along
/// the summed index and may overlap (a convolution window sliding over a padded row). The
/// fastest path the CPU supports.
void vqk_gemm_accumulate(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k,
                         const int16_t *a, ptrdiff_t lda,
                         const int16_t *w, ptrdiff_t ldw,
                         int32_t *c, ptrdiff_t ldc);

/// The same product with plain C loops only (what other CPUs run); for tests and benchmarks.
void vqk_gemm_accumulate_portable(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k,
                                  const int16_t *a, ptrdiff_t lda,
                                  const int16_t *w, ptrdiff_t ldw,
                                  int32_t *c, ptrdiff_t ldc);

/// The softmax weights of one distribution from its logits' accumulators:
///   v[s] = clamp((sums[s] · multiplier[s] + 2^(shift[s] − 1)) >> shift[s], −limit, limit)
///   weights[s] = exp_table[min(max_t v[t] − v[s], exp_last)]
/// for s < n (`>>` rounds towards −∞). Requires 0 ≤ multiplier < 2^31, 1 ≤ shift ≤ 62,
/// 0 < limit < 2^30 and exp_last ≥ 0 (what a valid integer prior holds). `logits` is work space
/// for n values. The fastest path the CPU supports.
void vqk_logit_weights(ptrdiff_t n, const int32_t *sums, const int64_t *multiplier, const int64_t *shift,
                       int32_t limit, const int32_t *exp_table, int32_t exp_last,
                       int32_t *logits, uint32_t *weights);

/// The same with plain C loops only.
void vqk_logit_weights_portable(ptrdiff_t n, const int32_t *sums, const int64_t *multiplier,
                                const int64_t *shift, int32_t limit, const int32_t *exp_table,
                                int32_t exp_last, int32_t *logits, uint32_t *weights);

/// 1 when the kernels run 256-bit AVX2 code on this CPU, else 0.
int vqk_uses_avx2(void);

#ifdef __cplusplus
}
#endif

#endif
