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
 *   - shares kernel modules: one whose code is that of a module loaded in the same context
 *     is that module, reference-counted (the same kernel in several compiled modules is
 *     JIT-compiled by the driver once);
 *   - runs contractions through cuBLAS (mlirfuse_gemm), the libcublas that torch ships
 *     (its path given by Python), one handle per device, on the same stream.
 */
#include <dlfcn.h>
#include <pthread.h>
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
static __thread int current_device = -1; /* the device of the call (mlirfuse_begin) */

/* Kernel lookups (mgpuModuleGetFunction runs before every launch): the name is kept as a
 * copy, since a shared module outlives the library whose string named it. */
#define MAX_KERNELS 4096
static struct { CUmodule module; char *name; CUfunction function; } kernels[MAX_KERNELS];
static int kernel_count = 0;
static __thread int kernel_hint = 0; /* a call's launches repeat in order: try the next */

/* Loaded modules, shared: a module whose code (PTX or cubin) is the same as one loaded in
 * the same context is that one, counted (the same kernel in several compiled modules: the
 * driver JIT-compiles it once a process). */
#define MAX_MODULES 4096
static struct {
  CUcontext context; uint64_t hash; size_t size; char *code; CUmodule module; int refs;
} modules[MAX_MODULES];
static int module_count = 0;
/* Read by Python: modules loaded by the driver, and loads served by one already loaded. */
int mlirfuse_modules_loaded = 0;
int mlirfuse_modules_shared = 0;
/* Set by Python before a library's load: 0 loads every module anew (MLIRFUSE_SHARE_KERNELS=0). */
int mlirfuse_share_modules = 1;
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;

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
  current_device = device >= 0 && device < 64 && contexts[device] ? device : -1;
  CUcontext ctx = 0;
  if (device >= 0 && device < 64 && contexts[device] && p_cuCtxGetCurrent &&
      !p_cuCtxGetCurrent(&ctx) && ctx != contexts[device])
    p_cuCtxSetCurrent(contexts[device]);
}

static uint64_t fnv1a(const char *data, size_t size) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < size; i++) h = (h ^ (unsigned char)data[i]) * 1099511628211ull;
  return h;
}

/* `code` (malloc'd, `size` bytes) as a module of the current context: one loaded with the
 * same code is shared (and `code` freed), else the driver loads it (`jit`: PTX). */
static void *load_shared(char *code, size_t size, int jit) {
  CUcontext context = 0;
  if (p_cuCtxGetCurrent) p_cuCtxGetCurrent(&context);
  uint64_t hash = fnv1a(code, size);
  pthread_mutex_lock(&table_lock);
  for (int i = 0; i < module_count && mlirfuse_share_modules; i++)
    if (modules[i].context == context && modules[i].hash == hash && modules[i].size == size
        && !memcmp(modules[i].code, code, size)) {
      modules[i].refs++;
      mlirfuse_modules_shared++;
      CUmodule module = modules[i].module;
      pthread_mutex_unlock(&table_lock);
      free(code);
      return module;
    }
  CUmodule module = 0;
  CUresult r = p_cuModuleLoadData(&module, code);
  if (r) {
    pthread_mutex_unlock(&table_lock);
    free(code);
    fail(jit ? "cuModuleLoadData (PTX JIT)" : "cuModuleLoadData", NULL, r);
    return 0;
  }
  mlirfuse_modules_loaded++;
  if (module_count < MAX_MODULES) {
    modules[module_count].context = context;
    modules[module_count].hash = hash;
    modules[module_count].size = size;
    modules[module_count].code = code;
    modules[module_count].module = module;
    modules[module_count].refs = 1;
    module_count++;
  } else {
    free(code); /* not shared: unloaded by mgpuModuleUnload as before */
  }
  pthread_mutex_unlock(&table_lock);
  return module;
}

void *mgpuModuleLoadJIT(void *data, int optLevel, size_t size) {
  (void)optLevel;
  if (!load_driver()) { __atomic_add_fetch(&mlirfuse_error_count, 1, __ATOMIC_SEQ_CST); return 0; }
  /* PTX must end with a NUL for cuModuleLoadData. */
  char *text = malloc(size + 1);
  memcpy(text, data, size);
  text[size] = 0;
  return load_shared(text, size + 1, 1);
}

void *mgpuModuleLoad(void *data, size_t size) {
  if (!load_driver()) { __atomic_add_fetch(&mlirfuse_error_count, 1, __ATOMIC_SEQ_CST); return 0; }
  char *code = malloc(size);
  memcpy(code, data, size);
  return load_shared(code, size, 0);
}

/* 0: mgpuModuleUnload leaves modules loaded (a diagnostic switch of bench/free.py). */
int mlirfuse_unload_modules = 1;

void mgpuModuleUnload(void *module) {
  if (!module || loaded <= 0 || !mlirfuse_unload_modules) return;
  pthread_mutex_lock(&table_lock);
  for (int i = 0; i < module_count; i++)
    if (modules[i].module == module) {
      if (--modules[i].refs > 0) { pthread_mutex_unlock(&table_lock); return; }
      free(modules[i].code);
      modules[i] = modules[--module_count];
      break;
    }
  for (int i = 0; i < kernel_count; i++)
    if (kernels[i].module == module) kernels[i].module = 0;
  pthread_mutex_unlock(&table_lock);
  p_cuModuleUnload((CUmodule)module); /* errors at process exit are of no interest */
}

void *mgpuModuleGetFunction(void *module, const char *name) {
  if (!module) return 0;
  int n = __atomic_load_n(&kernel_count, __ATOMIC_ACQUIRE), hint = kernel_hint;
  for (int k = 0; k < n; k++) {
    int i = (hint + k) % n;
    if (__atomic_load_n(&kernels[i].module, __ATOMIC_ACQUIRE) == module &&
        !strcmp(kernels[i].name, name)) {
      kernel_hint = i + 1;
      return kernels[i].function;
    }
  }
  CUfunction function = 0;
  CUresult r = p_cuModuleGetFunction(&function, (CUmodule)module, name);
  if (r) { fail("cuModuleGetFunction", name, r); return 0; }
  pthread_mutex_lock(&table_lock);
  /* A slot of an unloaded module is taken again; its module is written last (a lookup in
   * another thread matches on it). */
  int slot = 0;
  while (slot < kernel_count && kernels[slot].module) slot++;
  if (slot < MAX_KERNELS) {
    free(kernels[slot].name);
    kernels[slot].name = strdup(name);
    kernels[slot].function = function;
    __atomic_store_n(&kernels[slot].module, module, __ATOMIC_RELEASE);
    if (slot == kernel_count) __atomic_store_n(&kernel_count, slot + 1, __ATOMIC_RELEASE);
  }
  pthread_mutex_unlock(&table_lock);
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

/* ---- cuBLAS: contractions (compiler/passes/library_gemm.py emits the calls). ---- */

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

static const int gemm_types[] = {0 /* CUDA_R_32F */, 2 /* 16F */, 14 /* 16BF */, 1 /* 64F */,
                                 2, 14};
static const int gemm_c_types[] = {0, 2, 14, 1, 0, 0};

/* One cublasGemmStridedBatchedEx: row-major C (n columns, rows ld_c apart) = A B, as
   column-major C^T = B^T A^T ((n x m) = (n x k)(k x m)); nonzero when it failed. */
static int gemm_call(cublasHandle_t h, int dtype, int64_t batch, int64_t m, int64_t n,
                     int64_t k, const char *pa, int64_t a_b, int64_t a_m, int64_t a_k,
                     const char *pb, int64_t b_b, int64_t b_k, int64_t b_n, char *pc,
                     int64_t c_b, int ld_c, int32_t accumulate) {
  int op_b, ld_b, op_a, ld_a;
  operand(k, n, b_k, b_n, &op_b, &ld_b);
  operand(m, k, a_m, a_k, &op_a, &ld_a);
  float alpha32 = 1.0f, beta32 = accumulate ? 1.0f : 0.0f;
  double alpha64 = 1.0, beta64 = accumulate ? 1.0 : 0.0;
  int f64 = dtype == 3;
  int status = p_cublasGemmStridedBatchedEx(
      h, op_b, op_a, (int)n, (int)m, (int)k, f64 ? (void *)&alpha64 : (void *)&alpha32,
      pb, gemm_types[dtype], ld_b, b_b, pa, gemm_types[dtype], ld_a, a_b,
      f64 ? (void *)&beta64 : (void *)&beta32, pc, gemm_c_types[dtype], ld_c, c_b, (int)batch,
      f64 ? 70 /* COMPUTE_64F */ : 68 /* COMPUTE_32F */, -1 /* CUBLAS_GEMM_DEFAULT */);
  if (status) gemm_fail("cublasGemmStridedBatchedEx", status);
  return status;
}

/* C[b] (+)= A[b] @ B[b]: A is m x k, B k x n, C m x n (row-major views with the given
   strides; offsets in elements). dtype: 0 f32, 1 f16, 2 bf16, 3 f64. */
void mlirfuse_gemm(int32_t dtype, int64_t batch, int64_t m, int64_t n, int64_t k,
                   int64_t a, int64_t a_off, int64_t a_b, int64_t a_m, int64_t a_k,
                   int64_t b, int64_t b_off, int64_t b_b, int64_t b_k, int64_t b_n,
                   int64_t c, int64_t c_off, int64_t c_b, int64_t c_m, int64_t c_n,
                   int32_t accumulate) {
  /* dtype: 0 f32, 1 f16, 2 bf16, 3 f64, then half inputs summed into an f32 C (torch-mlir's
     half matmuls, rounded by the code after): 4 f16 -> f32, 5 bf16 -> f32. */
  static const int sizes[] = {4, 2, 2, 8, 2, 2};
  static const int c_sizes[] = {4, 2, 2, 8, 4, 4};
  (void)c_n;
  if (dtype < 0 || dtype > 5) { gemm_fail("cuBLAS (unknown dtype code)", -1); return; }
  if (cublas_loaded <= 0) { gemm_fail("cuBLAS (not loaded)", -1); return; }
  int device = current_device;
  if (device < 0) { gemm_fail("cuBLAS (no mlirfuse context current)", -1); return; }
  if (!handles[device]) {
    int status = p_cublasCreate(&handles[device]);
    if (status) { gemm_fail("cublasCreate", status); return; }
  }
  cublasHandle_t h = handles[device];
  int status = p_cublasSetStream(h, current_stream);
  if (status) { gemm_fail("cublasSetStream", status); return; }
  int size = sizes[dtype];
  const char *pa = (const char *)a + a_off * size, *pb = (const char *)b + b_off * size;
  char *pc = (char *)c + c_off * c_sizes[dtype];
  int ld_c = (int)(c_m > n ? c_m : n);
  /* cuBLAS's tensor-core kernels want C's rows 16 bytes apart *and* its column count (the
     m of cuBLAS's column-major call) a multiple of their vector: a large GEMM of n = 50257
     (GPT-2's LM head) ran a cutlass `align1` kernel, 1.68 ms where 0.3 ms would do, even
     with rows padded (mlirfuse-align-gemm-rows). Where the rows are aligned, the first
     n - n % 8 columns are one call (tensor cores) and the last few a second, small one. */
  int64_t tail = n % 8;
  if (tail && n > 8 && (int64_t)ld_c * c_sizes[dtype] % 16 == 0 && (uintptr_t)pc % 16 == 0
      && batch * m * n * k >= (1LL << 27)) {
    if (gemm_call(h, dtype, batch, m, n - tail, k, pa, a_b, a_m, a_k, pb, b_b, b_k, b_n, pc,
                  c_b, ld_c, accumulate))
      return;
    gemm_call(h, dtype, batch, m, tail, k, pa, a_b, a_m, a_k, pb + (n - tail) * b_n * size,
              b_b, b_k, b_n, pc + (n - tail) * c_sizes[dtype], c_b, ld_c, accumulate);
    return;
  }
  gemm_call(h, dtype, batch, m, n, k, pa, a_b, a_m, a_k, pb, b_b, b_k, b_n, pc, c_b, ld_c,
            accumulate);
}

/* ---- cuDNN: 2-D convolutions (lowering/cuda/library_conv.py emits the calls). ----
 * The legacy descriptor API (cudnnConvolutionForward), which cuDNN 9 still exports, of
 * the libcudnn torch ships. Descriptors and the algorithm are made once per shape and
 * kept (a call costs a lookup); the algorithm is cuDNN's heuristic first choice among
 * those whose workspace fits the one the compiled code passes. */

typedef void *cudnnHandle_t;
typedef void *cudnnDesc_t;
typedef struct {
  int algo, status;
  float time;
  size_t memory;
  int determinism, math_type, reserved[3];
} cudnnFwdAlgoPerf_t;

static int (*p_cudnnCreate)(cudnnHandle_t *);
static int (*p_cudnnSetStream)(cudnnHandle_t, CUstream);
static int (*p_cudnnCreateTensorDescriptor)(cudnnDesc_t *);
static int (*p_cudnnSetTensor4dDescriptorEx)(cudnnDesc_t, int, int, int, int, int, int, int,
                                             int, int);
static int (*p_cudnnCreateFilterDescriptor)(cudnnDesc_t *);
static int (*p_cudnnSetFilter4dDescriptor)(cudnnDesc_t, int, int, int, int, int, int);
static int (*p_cudnnCreateConvolutionDescriptor)(cudnnDesc_t *);
static int (*p_cudnnSetConvolution2dDescriptor)(cudnnDesc_t, int, int, int, int, int, int, int,
                                                int);
static int (*p_cudnnSetConvolutionMathType)(cudnnDesc_t, int);
static int (*p_cudnnGetConvolutionForwardAlgorithm_v7)(cudnnHandle_t, cudnnDesc_t, cudnnDesc_t,
                                                       cudnnDesc_t, cudnnDesc_t, int, int *,
                                                       cudnnFwdAlgoPerf_t *);
static int (*p_cudnnConvolutionForward)(cudnnHandle_t, const void *, cudnnDesc_t, const void *,
                                        cudnnDesc_t, const void *, cudnnDesc_t, int, void *,
                                        size_t, const void *, cudnnDesc_t, void *);
static const char *(*p_cudnnGetErrorString)(int);
static cudnnHandle_t cudnn_handles[64];
static int cudnn_loaded = 0;
/* TF32 tensor cores for float32 convolutions: torch.backends.cudnn.allow_tf32, set by
   Python before each call of code with convolutions (eager's default: allowed). */
static int conv_allow_tf32 = 1;

void mlirfuse_set_conv_tf32(int allow) { conv_allow_tf32 = allow; }

/* Opens libcudnn at `path` (the shim of cuDNN 9, which forwards to its sub-libraries);
   0 on success. */
int mlirfuse_cudnn_open(const char *path) {
  if (cudnn_loaded) return cudnn_loaded < 0;
  void *lib = dlopen(path, RTLD_NOW | RTLD_GLOBAL);
  if (!lib) {
    snprintf(last_error, sizeof last_error, "cuDNN (%s) could not be opened: %s", path, dlerror());
    cudnn_loaded = -1;
    return 1;
  }
  const char *missing = NULL;
#define LOAD(name) \
  if (!(*(void **)(&p_##name) = dlsym(lib, #name)) && !missing) missing = #name
  LOAD(cudnnCreate);
  LOAD(cudnnSetStream);
  LOAD(cudnnCreateTensorDescriptor);
  LOAD(cudnnSetTensor4dDescriptorEx);
  LOAD(cudnnCreateFilterDescriptor);
  LOAD(cudnnSetFilter4dDescriptor);
  LOAD(cudnnCreateConvolutionDescriptor);
  LOAD(cudnnSetConvolution2dDescriptor);
  LOAD(cudnnSetConvolutionMathType);
  LOAD(cudnnGetConvolutionForwardAlgorithm_v7);
  LOAD(cudnnConvolutionForward);
  LOAD(cudnnGetErrorString);
#undef LOAD
  if (missing) {
    snprintf(last_error, sizeof last_error, "%s lacks %s", path, missing);
    cudnn_loaded = -1;
    return 1;
  }
  cudnn_loaded = 1;
  return 0;
}

static void conv_fail(const char *what, int status) {
  const char *text = p_cudnnGetErrorString && status > 0 ? p_cudnnGetErrorString(status) : "";
  snprintf(last_error, sizeof last_error, "%s failed for a convolution: %s (cuDNN status %d)",
           what, text, status);
  __atomic_add_fetch(&mlirfuse_error_count, 1, __ATOMIC_SEQ_CST);
}

#define CONV_KEY 22
#define MAX_CONVS 256
static struct {
  int64_t key[CONV_KEY];
  cudnnDesc_t x, w, y, conv;
  int algo;
} convs[MAX_CONVS];
static int conv_count = 0;
static int conv_evict = 0; /* the entry a full table sets next */

/* y (+)= conv(x, w): x is n x c x h x w, w f x c x kh x kw (contiguous), y n x f x oh x ow
   (4-D strides in elements for x and y; offsets in elements), no padding (the compiled
   code pads), cross-correlation as torch's. dtype: 0 f32, 1 f16, 2 bf16, 3 f64. */
void mlirfuse_conv2d(int32_t dtype, int64_t x, int64_t x_off, int64_t n, int64_t c, int64_t h,
                     int64_t w, int64_t x_n, int64_t x_c, int64_t x_h, int64_t x_w,
                     int64_t wt, int64_t w_off, int64_t f, int64_t kh, int64_t kw,
                     int64_t y, int64_t y_off, int64_t oh, int64_t ow, int64_t y_n, int64_t y_c,
                     int64_t y_h, int64_t y_w, int64_t stride_h, int64_t stride_w,
                     int64_t dil_h, int64_t dil_w, int64_t workspace, int64_t workspace_bytes,
                     int32_t accumulate) {
  static const int types[] = {0 /* CUDNN_DATA_FLOAT */, 2 /* HALF */, 9 /* BFLOAT16 */,
                              1 /* DOUBLE */};
  static const int sizes[] = {4, 2, 2, 8};
  if (cudnn_loaded <= 0) { conv_fail("cuDNN (not loaded)", -1); return; }
  int device = current_device;
  if (device < 0) { conv_fail("cuDNN (no mlirfuse context current)", -1); return; }
  int status;
  if (!cudnn_handles[device] && (status = p_cudnnCreate(&cudnn_handles[device]))) {
    conv_fail("cudnnCreate", status);
    return;
  }
  cudnnHandle_t handle = cudnn_handles[device];
  if ((status = p_cudnnSetStream(handle, current_stream))) {
    conv_fail("cudnnSetStream", status);
    return;
  }
  int math = dtype == 0 && !conv_allow_tf32 ? 3 /* CUDNN_FMA_MATH */ : 0 /* DEFAULT */;
  int64_t key[CONV_KEY] = {dtype, n, c, h, w, x_n, x_c, x_h, x_w, f, kh, kw, oh, ow,
                           y_n, y_c, y_h, y_w, stride_h, stride_w,
                           (dil_h << 32) | dil_w, (workspace_bytes << 8) | (device << 2) | math};
  int slot = -1;
  for (int i = 0; i < conv_count; i++)
    if (!memcmp(convs[i].key, key, sizeof key)) { slot = i; break; }
  if (slot < 0) {
    int type = types[dtype];
    cudnnDesc_t xd, wd, yd, cd;
    if (conv_count < MAX_CONVS) {
      slot = conv_count;
      if ((status = p_cudnnCreateTensorDescriptor(&xd)) ||
          (status = p_cudnnCreateTensorDescriptor(&yd)) ||
          (status = p_cudnnCreateFilterDescriptor(&wd)) ||
          (status = p_cudnnCreateConvolutionDescriptor(&cd))) {
        conv_fail("cudnnCreate*Descriptor", status);
        return;
      }
    } else {
      /* Full (each specialization's shapes, or a batch that varies, add entries): the
         oldest entry's descriptors are set for this shape. Before: every later shape
         failed ("more than 256 convolution shapes"). Its key is no key until set. */
      slot = conv_evict;
      conv_evict = (conv_evict + 1) % MAX_CONVS;
      xd = convs[slot].x; wd = convs[slot].w; yd = convs[slot].y; cd = convs[slot].conv;
      convs[slot].key[0] = -1;
    }
    if ((status = p_cudnnSetTensor4dDescriptorEx(xd, type, n, c, h, w, x_n, x_c, x_h, x_w)) ||
        (status = p_cudnnSetTensor4dDescriptorEx(yd, type, n, f, oh, ow, y_n, y_c, y_h, y_w)) ||
        (status = p_cudnnSetFilter4dDescriptor(wd, type, 0 /* NCHW */, f, c, kh, kw)) ||
        (status = p_cudnnSetConvolution2dDescriptor(
             cd, 0, 0, stride_h, stride_w, dil_h, dil_w, 1 /* CROSS_CORRELATION */,
             dtype == 3 ? 1 : 0 /* accumulate in double for f64, else float */)) ||
        (status = p_cudnnSetConvolutionMathType(cd, math))) {
      conv_fail("cudnnSet*Descriptor", status);
      return;
    }
    cudnnFwdAlgoPerf_t perf[16];
    int found = 0;
    if ((status = p_cudnnGetConvolutionForwardAlgorithm_v7(handle, xd, wd, cd, yd, 16, &found,
                                                            perf))) {
      conv_fail("cudnnGetConvolutionForwardAlgorithm_v7", status);
      return;
    }
    int algo = -1;
    for (int i = 0; i < found && algo < 0; i++)
      if (perf[i].status == 0 && perf[i].memory <= (size_t)workspace_bytes &&
          (math == 0 || (perf[i].math_type != 1 && perf[i].math_type != 2))) {
        algo = perf[i].algo;
        /* The math the heuristic ranked it with (tensor cores or not), unless TF32 is off. */
        p_cudnnSetConvolutionMathType(cd, math ? math : perf[i].math_type);
      }
    if (algo < 0) { conv_fail("cuDNN (no algorithm fits the workspace)", -1); return; }
    memcpy(convs[slot].key, key, sizeof key);
    convs[slot].x = xd; convs[slot].w = wd; convs[slot].y = yd; convs[slot].conv = cd;
    convs[slot].algo = algo;
    if (slot == conv_count) conv_count++;
  }
  int size = sizes[dtype];
  float alpha32 = 1.0f, beta32 = accumulate ? 1.0f : 0.0f;
  double alpha64 = 1.0, beta64 = accumulate ? 1.0 : 0.0;
  int f64 = dtype == 3;
  status = p_cudnnConvolutionForward(
      handle, f64 ? (void *)&alpha64 : (void *)&alpha32, convs[slot].x,
      (const char *)x + x_off * size, convs[slot].w, (const char *)wt + w_off * size,
      convs[slot].conv, convs[slot].algo, (void *)workspace, (size_t)workspace_bytes,
      f64 ? (void *)&beta64 : (void *)&beta32, convs[slot].y, (char *)y + y_off * size);
  if (status) conv_fail("cudnnConvolutionForward", status);
}
