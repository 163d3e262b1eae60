/* mlirfuse's CPU GEMM: the contractions mlirfuse-library-gemm turned into calls of
 * mlirfuse_cpu_gemm run on the BLAS inside torch (MKL's sgemm_/dgemm_, exported by
 * libtorch_cpu.so: the kernels torch.mm runs, on torch's OpenMP threads).
 *
 * Built at first use with the system C compiler (runtime/blas.py), which points it at
 * the library holding sgemm_ (mlirfuse_blas_init). torch loads that library with
 * RTLD_LOCAL, so its symbols are found here by dlopen of the same path, not by name.
 * Without it (a torch built without an exported BLAS), the contraction runs as plain
 * loops below: correct, slow.
 */
#include <dlfcn.h>
#include <stdint.h>
#include <stdlib.h>

typedef void (*sgemm_t)(const char *, const char *, const int *, const int *, const int *,
                        const float *, const float *, const int *, const float *,
                        const int *, const float *, float *, const int *);
typedef void (*dgemm_t)(const char *, const char *, const int *, const int *, const int *,
                        const double *, const double *, const int *, const double *,
                        const int *, const double *, double *, const int *);

/* The group API (one group): MKL spreads a batch of small products over its threads,
   where a loop of sgemm_ calls would split each small product (torch.bmm's way). */
typedef void (*gemm_batch_t)(const char *, const char *, const int *, const int *, const int *,
                             const void *, const void **, const int *, const void **,
                             const int *, const void *, void **, const int *, const int *,
                             const int *);

static sgemm_t p_sgemm;
static dgemm_t p_dgemm;
static gemm_batch_t p_sgemm_batch, p_dgemm_batch;

/* Finds sgemm_ and dgemm_ in the library at `path`; 0 on success. */
int mlirfuse_blas_init(const char *path) {
  void *lib = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
  if (!lib) lib = dlopen(path, RTLD_NOW);
  if (!lib) return 1;
  *(void **)(&p_sgemm) = dlsym(lib, "sgemm_");
  *(void **)(&p_dgemm) = dlsym(lib, "dgemm_");
  *(void **)(&p_sgemm_batch) = dlsym(lib, "sgemm_batch_");
  *(void **)(&p_dgemm_batch) = dlsym(lib, "dgemm_batch_");
  if (!p_sgemm || !p_dgemm) {
    p_sgemm = 0;
    p_dgemm = 0;
    p_sgemm_batch = 0;
    p_dgemm_batch = 0;
    return 1;
  }
  return 0;
}

/* Whether the calls go to the library (1) or to the loops below (0). */
int mlirfuse_blas_ready(void) { return p_sgemm != 0; }

/* The operand column-major BLAS sees for a row-major rows x cols matrix with strides
   (row, col): "N" with ld = row when col is unit, "T" with ld = col when row is. */
static void operand(int64_t rows, int64_t cols, int64_t row, int64_t col, char *op, int *ld) {
  if (col == 1 || cols == 1) { *op = 'N'; *ld = (int)(row > cols ? row : cols); }
  else { *op = 'T'; *ld = (int)(col > rows ? col : rows); }
  if (rows == 1 && col != 1) { *op = 'T'; *ld = (int)(col > 1 ? col : 1); }
  if (*ld < 1) *ld = 1;
}

#define LOOPS(T)                                                                        \
  for (int64_t i = 0; i < m; i++)                                                       \
    for (int64_t j = 0; j < n; j++) {                                                   \
      T sum = accumulate ? ((T *)pc)[i * c_m + j * c_n] : (T)0;                         \
      for (int64_t l = 0; l < k; l++)                                                   \
        sum += ((const T *)pa)[i * a_m + l * a_k] * ((const T *)pb)[l * b_k + j * b_n]; \
      ((T *)pc)[i * c_m + j * c_n] = sum;                                               \
    }

/* C[b] (+)= A[b] @ B[b] for b < batch: A is m x k, B k x n, C m x n (row-major views
   with the given strides, in elements; a, b, c are base pointers and *_off offsets).
   dtype: 0 f32, 3 f64 (the codes of mlirfuse-library-gemm). */
void mlirfuse_cpu_gemm(int32_t dtype, int64_t batch, int64_t m, int64_t n, int64_t k,
                       int64_t a, int64_t a_off, int64_t a_b, int64_t a_m, int64_t a_k,
                       int64_t b, int64_t b_off, int64_t b_b, int64_t b_k, int64_t b_n,
                       int64_t c, int64_t c_off, int64_t c_b, int64_t c_m, int64_t c_n,
                       int32_t accumulate) {
  int size = dtype == 3 ? 8 : 4;
  /* Row-major C = A B is column-major C^T = B^T A^T: BLAS computes (n x m) = (n x k)(k x m). */
  char op_a, op_b;
  int ld_a, ld_b;
  operand(k, n, b_k, b_n, &op_b, &ld_b);
  operand(m, k, a_m, a_k, &op_a, &ld_a);
  int ld_c = (int)(c_m > n ? c_m : n);
  int im = (int)m, in = (int)n, ik = (int)k;
  gemm_batch_t grouped = dtype == 3 ? p_dgemm_batch : p_sgemm_batch;
  if (batch > 1 && batch <= INT32_MAX && m && n && grouped) {
    const void **pointers = malloc(3 * batch * sizeof(void *));
    if (pointers) {
      for (int64_t i = 0; i < batch; i++) {
        pointers[i] = (const char *)b + (b_off + i * b_b) * size;
        pointers[batch + i] = (const char *)a + (a_off + i * a_b) * size;
        pointers[2 * batch + i] = (char *)c + (c_off + i * c_b) * size;
      }
      float one32 = 1.0f, beta32 = accumulate ? 1.0f : 0.0f;
      double one64 = 1.0, beta64 = accumulate ? 1.0 : 0.0;
      const void *one = dtype == 3 ? (const void *)&one64 : (const void *)&one32;
      const void *beta = dtype == 3 ? (const void *)&beta64 : (const void *)&beta32;
      int groups = 1, count = (int)batch;
      grouped(&op_b, &op_a, &in, &im, &ik, one, pointers, &ld_b, pointers + batch, &ld_a,
              beta, (void **)(pointers + 2 * batch), &ld_c, &groups, &count);
      free(pointers);
      return;
    }
  }
  for (int64_t i = 0; i < batch; i++) {
    const char *pa = (const char *)a + (a_off + i * a_b) * size;
    const char *pb = (const char *)b + (b_off + i * b_b) * size;
    char *pc = (char *)c + (c_off + i * c_b) * size;
    if (m == 0 || n == 0) continue;
    if (dtype == 3 && p_dgemm) {
      double one = 1.0, beta = accumulate ? 1.0 : 0.0;
      p_dgemm(&op_b, &op_a, &in, &im, &ik, &one, (const double *)pb, &ld_b,
              (const double *)pa, &ld_a, &beta, (double *)pc, &ld_c);
    } else if (dtype == 0 && p_sgemm) {
      float one = 1.0f, beta = accumulate ? 1.0f : 0.0f;
      p_sgemm(&op_b, &op_a, &in, &im, &ik, &one, (const float *)pb, &ld_b,
              (const float *)pa, &ld_a, &beta, (float *)pc, &ld_c);
    } else if (dtype == 3) {
      LOOPS(double)
    } else {
      LOOPS(float)
    }
  }
}
