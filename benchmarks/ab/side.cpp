// One side of scripts/ab-gemm.sh: compiled once per header tree, with -DUNIGEN_AB_SIDE=old (or new) and
// -Dunigen=unigen_old (or unigen_new), so that the two trees' inline code lands in two namespaces of one
// binary (the headers put nothing outside namespace unigen). Exports ab_gemm_<side>.
#include <unigen/backend/cpu/gemm.hpp>

#define UNIGEN_AB_CAT2(a, b) a##b
#define UNIGEN_AB_CAT(a, b) UNIGEN_AB_CAT2(a, b)

// C [M,N] = A [M,K] · op(B), op(B) = Bᵀ with B [N,K] when tb, else B [K,N]; dense row-major operands.
extern "C" void UNIGEN_AB_CAT(ab_gemm_, UNIGEN_AB_SIDE)(bool tb, int64_t M, int64_t N, int64_t K, const float* a,
                                                        const float* b, float* c) {
  unigen::cpu::sgemm(false, tb, M, N, K, 1.0f, a, K, b, tb ? K : N, 0.0f, c, N);
}
