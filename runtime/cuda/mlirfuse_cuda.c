/* mlirfuse's CUDA runtime: the mgpu* C ABI that MLIR's gpu-to-llvm host code calls.
 *
 * Built at first use with the system C compiler (runtime/cuda.py) and loaded by
 * both ctypes and the ExecutionEngine, so the two share its state.
 *
 * Unlike upstream's libmlir_cuda_runtime it
 *   - launches on the stream the caller names (torch.cuda.current_stream()), set per
 *     call by mlirfuse_begin: mgpuStreamCreate returns it, and mgpuStreamSynchronize and
 *     mgpuStreamDestroy do nothing, so a call never creates a stream or waits;
 *   - opens libcuda with dlopen (nothing to link; a machine without a driver gets an
 *     error message, not a crash);
 *   - never aborts: a failed CUDA call is recorded with the kernel's name, counted in
 *     mlirfuse_error_count, and reported by Python as an exception after the call.
 *   - caches kernel lookups (mgpuModuleGetFunction runs before every launch);
 *   - runs contractions through cuBLAS (mlirfuse_gemm), the libcublas that torch ships
 *     (its path given by Python), one handle per device, on the same stream.
 */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int CUresult;
typedef int CUdevice;
typedef void *CUcontext;
typedef void *CUmodule;
typedef void *CUfunction;
typedef void *CUstream;

static CUresult (*p_cuInit)(unsigned);
static CUresult (*p_cuDeviceGet)(CUdevice *, int);
static CUresult (*p_cuDevicePrimaryCtxRetain)(CUcontext *, CUdevice);
static CUresult (*p_cuCtxGetCurrent)(CUcontext *);
static CUresult (*p_cuCtxSetCurrent)(CUcontext);
static CUresult (*p_cuModuleLoadData)(CUmodule *, const void *);
static CUresult (*p_cuModuleUnload)(CUmodule);
static CUresult (*p_cuModuleGetFunction)(CUfunction *, CUmodule, const char *);
static CUresult (*p_cuLaunchKernel)(CUfunction, unsigned, unsigned, unsigned, unsigned,
                                    unsigned, unsigned, unsigned, CUstream, void **, void **);
static CUresult (*p_cuGetErrorString)(CUresult, const char **);

/* Read by Python after each call: a change means the call failed. */
int mlirfuse_error_count = 0;
static char last_error[2048];
static int loaded = 0;
static CUcontext contexts[64];
static __thread CUstream current_stream = 0;

#define MAX_KERNELS 4096
static struct { CUmodule module; const char *name; CUfunction function; } kernels[MAX_KERNELS];
static int kernel_count = 0;

static void fail(const char *what, const char *kernel, CUresult code) {
  const char *text = "unknown error";
  if (p_cuGetErrorString) p_cuGetErrorString(code, &text);
  snprintf(last_error, sizeof last_error, "%s failed for kernel '%s': %s (CUDA error %d)",
           what, kernel ? kernel : "?", text, code);
  __atomic_add_fetch(&mlirfuse_error_count, 1, __ATOMIC_SEQ_CST);
}

const char *mlirfuse_last_error(void) { return last_error; }

static int load_driver(void) {
  if (loaded) return loaded > 0;
  void *lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_GLOBAL);
  if (!lib) lib = dlopen("libcuda.so", RTLD_NOW | RTLD_GLOBAL);
  if (!lib) {
    snprintf(last_error, sizeof last_error, "the CUDA driver (libcuda.so.1) could not be "
             "opened: %s", dlerror());
    loaded = -1;
    return 0;
  }
#define LOAD(name, symbol) *(void **)(&p_##name) = dlsym(lib, symbol)
  LOAD(cuInit, "cuInit");
  LOAD(cuDeviceGet, "cuDeviceGet");
  LOAD(cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain");
  LOAD(cuCtxGetCurrent, "cuCtxGetCurrent");
  LOAD(cuCtxSetCurrent, "cuCtxSetCurrent");
  LOAD(cuModuleLoadData, "cuModuleLoadData");
  LOAD(cuModuleUnload, "cuModuleUnload");
  LOAD(cuModuleGetFunction, "cuModuleGetFunction");
  LOAD(cuLaunchKernel, "cuLaunchKernel");
  LOAD(cuGetErrorString, "cuGetErrorString");
#undef LOAD
  if (!p_cuInit || !p_cuLaunchKernel || !p_cuModuleLoadData || !p_cuModuleGetFunction) {
    snprintf(last_error, sizeof last_error, "libcuda.so.1 lacks the driver API");
    loaded = -1;
    return 0;
  }
  loaded = 1;
  return 1;
}

/* Makes `device`'s primary context (the one torch uses) current; 0 on success. */
int mlirfuse_cuda_init(int device) {
  if (!load_driver()) return 1;
  if (device < 0 || device >= 64) {
    snprintf(last_error, sizeof last_error, "device index %d out of range", device);
    return 1;
  }
  CUresult r = p_cuInit(0);
  if (r) { fail("cuInit", NULL, r); return 1; }
  if (!contexts[device]) {
    CUdevice dev;
    if ((r = p_cuDeviceGet(&dev, device))) { fail("cuDeviceGet", NULL, r); return 1; }
    if ((r = p_cuDevicePrimaryCtxRetain(&contexts[device], dev))) {
      fail("cuDevicePrimaryCtxRetain", NULL, r);
      return 1;
    }
  }
  if ((r = p_cuCtxSetCurrent(contexts[device]))) { fail("cuCtxSetCurrent", NULL, r); return 1; }
  return 0;
}

/* Before each call: the stream to launch on, and the device's context made current. */
void mlirfuse_begin(void *stream, int device) {
  current_stream = (CUstream)stream;
  CUcontext ctx = 0;
  if (device >= 0 && device < 64 && contexts[device] && p_cuCtxGetCurrent &&
      !p_cuCtxGetCurrent(&ctx) && ctx != contexts[device])
    p_cuCtxSetCurrent(contexts[device]);
}

void *mgpuModuleLoadJIT(void *data, int optLevel, size_t size) {
  (void)optLevel;
  if (!load_driver()) { __atomic_add_fetch(&mlirfuse_error_count, 1, __ATOMIC_SEQ_CST); return 0; }
  /* PTX must end with a NUL for cuModuleLoadData. */
  char *text = malloc(size + 1);
  memcpy(text, data, size);
  text[size] = 0;
  CUmodule module = 0;
  CUresult r = p_cuModuleLoadData(&module, text);
  free(text);
  if (r) { fail("cuModuleLoadData (PTX JIT)", NULL, r); return 0; }
  return module;
}

void *mgpuModuleLoad(void *data, size_t size) {
  if (!load_driver()) { __atomic_add_fetch(&mlirfuse_error_count, 1, __ATOMIC_SEQ_CST); return 0; }
  (void)size;
  CUmodule module = 0;
  CUresult r = p_cuModuleLoadData(&module, data);
  if (r) { fail("cuModuleLoadData", NULL, r); return 0; }
  return module;
}

void mgpuModuleUnload(void *module) {
  if (!module || loaded <= 0) return;
  for (int i = 0; i < kernel_count; i++)
    if (kernels[i].module == module) kernels[i].module = 0;
  p_cuModuleUnload((CUmodule)module); /* errors at process exit are of no interest */
}

void *mgpuModuleGetFunction(void *module, const char *name) {
  if (!module) return 0;
  for (int i = 0; i < kernel_count; i++)
    if (kernels[i].module == module && kernels[i].name == name) return kernels[i].function;
  CUfunction function = 0;
  CUresult r = p_cuModuleGetFunction(&function, (CUmodule)module, name);
  if (r) { fail("cuModuleGetFunction", name, r); return 0; }
  if (kernel_count < MAX_KERNELS) {
    kernels[kernel_count].module = module;
    kernels[kernel_count].name = name;
    kernels[kernel_count].function = function;
    kernel_count++;
  }
  return function;
}

static const char *kernel_name(void *function) {
  for (int i = 0; i < kernel_count; i++)
    if (kernels[i].function == function) return kernels[i].name;
  return "?";
}

void *mgpuStreamCreate(void) { return current_stream; }
void mgpuStreamSynchronize(void *stream) { (void)stream; }
void mgpuStreamDestroy(void *stream) { (void)stream; }

void mgpuLaunchKernel(void *function, intptr_t gx, intptr_t gy, intptr_t gz, intptr_t bx,
                      intptr_t by, intptr_t bz, int32_t smem, void *stream, void **params,
                      void **extra, size_t paramsCount) {
  (void)paramsCount;
  if (!function) {
    if (!mlirfuse_error_count) fail("kernel lookup", NULL, 0);
    return;
  }
  CUresult r = p_cuLaunchKernel((CUfunction)function, gx, gy, gz, bx, by, bz, smem,
                                (CUstream)stream, params, extra);
  if (r) fail("cuLaunchKernel", kernel_name(function), r);
}

/* ---- cuBLAS: contractions (compiler/passes/gpu_library.py emits the calls). ---- */

typedef void *cublasHandle_t;
static int (*p_cublasCreate)(cublasHandle_t *);
static int (*p_cublasSetStream)(cublasHandle_t, CUstream);
static int (*p_cublasGemmStridedBatchedEx)(
    cublasHandle_t, int, int, int, int, int, const void *, const void *, int, int, long long,
    const void *, int, int, long long, const void *, void *, int, int, long long, int, int, int);
static cublasHandle_t handles[64];
static int cublas_loaded = 0;

/* Opens libcublas at `path`; 0 on success. */
int mlirfuse_cublas_open(const char *path) {
  if (cublas_loaded) return cublas_loaded < 0;
  void *lib = dlopen(path, RTLD_NOW | RTLD_GLOBAL);
  if (!lib) {
    snprintf(last_error, sizeof last_error, "cuBLAS (%s) could not be opened: %s", path, dlerror());
    cublas_loaded = -1;
    return 1;
  }
  *(void **)(&p_cublasCreate) = dlsym(lib, "cublasCreate_v2");
  *(void **)(&p_cublasSetStream) = dlsym(lib, "cublasSetStream_v2");
  *(void **)(&p_cublasGemmStridedBatchedEx) = dlsym(lib, "cublasGemmStridedBatchedEx");
  if (!p_cublasCreate || !p_cublasSetStream || !p_cublasGemmStridedBatchedEx) {
    snprintf(last_error, sizeof last_error, "%s lacks cublasGemmStridedBatchedEx", path);
    cublas_loaded = -1;
    return 1;
  }
  cublas_loaded = 1;
  return 0;
}

static void gemm_fail(const char *what, int status) {
  snprintf(last_error, sizeof last_error, "%s failed for a contraction (cuBLAS status %d)",
           what, status);
  __atomic_add_fetch(&mlirfuse_error_count, 1, __ATOMIC_SEQ_CST);
}

/* The operand cuBLAS (column-major) sees for a row-major rows x cols matrix with strides
   (row, col): op N with ld = row when col is unit, op T with ld = col when row is. */
static void operand(int64_t rows, int64_t cols, int64_t row, int64_t col, int *op, int *ld) {
  if (col == 1 || cols == 1) { *op = 0; *ld = (int)(row > cols ? row : cols); }
  else { *op = 1; *ld = (int)(col > rows ? col : rows); }
  if (rows == 1 && col != 1) { *op = 1; *ld = (int)(col > 1 ? col : 1); }
  if (*ld < 1) *ld = 1;
}

/* C[b] (+)= A[b] @ B[b]: A is m x k, B k x n, C m x n (row-major views with the given
   strides; offsets in elements). dtype: 0 f32, 1 f16, 2 bf16, 3 f64. */
void mlirfuse_gemm(int32_t dtype, int64_t batch, int64_t m, int64_t n, int64_t k,
                   int64_t a, int64_t a_off, int64_t a_b, int64_t a_m, int64_t a_k,
                   int64_t b, int64_t b_off, int64_t b_b, int64_t b_k, int64_t b_n,
                   int64_t c, int64_t c_off, int64_t c_b, int64_t c_m, int64_t c_n,
                   int32_t accumulate) {
  static const int types[] = {0 /* CUDA_R_32F */, 2 /* 16F */, 14 /* 16BF */, 1 /* 64F */};
  static const int sizes[] = {4, 2, 2, 8};
  (void)c_n;
  if (cublas_loaded <= 0) { gemm_fail("cuBLAS (not loaded)", -1); return; }
  CUcontext ctx = 0;
  int device = -1;
  p_cuCtxGetCurrent(&ctx);
  for (int i = 0; i < 64; i++) if (contexts[i] && contexts[i] == ctx) device = i;
  if (device < 0) { gemm_fail("cuBLAS (no mlirfuse context current)", -1); return; }
  if (!handles[device]) {
    int status = p_cublasCreate(&handles[device]);
    if (status) { gemm_fail("cublasCreate", status); return; }
  }
  cublasHandle_t h = handles[device];
  int status = p_cublasSetStream(h, current_stream);
  if (status) { gemm_fail("cublasSetStream", status); return; }
  int size = sizes[dtype], type = types[dtype];
  const char *pa = (const char *)a + a_off * size, *pb = (const char *)b + b_off * size;
  char *pc = (char *)c + c_off * size;
  /* Row-major C = A B is column-major C^T = B^T A^T: cuBLAS computes (n x m) = (n x k)(k x m). */
  int op_b, ld_b, op_a, ld_a;
  operand(k, n, b_k, b_n, &op_b, &ld_b);
  operand(m, k, a_m, a_k, &op_a, &ld_a);
  int ld_c = (int)(c_m > n ? c_m : n);
  float alpha32 = 1.0f, beta32 = accumulate ? 1.0f : 0.0f;
  double alpha64 = 1.0, beta64 = accumulate ? 1.0 : 0.0;
  int f64 = dtype == 3;
  status = p_cublasGemmStridedBatchedEx(
      h, op_b, op_a, (int)n, (int)m, (int)k, f64 ? (void *)&alpha64 : (void *)&alpha32,
      pb, type, ld_b, b_b, pa, type, ld_a, a_b, f64 ? (void *)&beta64 : (void *)&beta32,
      pc, type, ld_c, c_b, (int)batch, f64 ? 70 /* COMPUTE_64F */ : 68 /* COMPUTE_32F */,
      -1 /* CUBLAS_GEMM_DEFAULT */);
  if (status) gemm_fail("cublasGemmStridedBatchedEx", status);
}
