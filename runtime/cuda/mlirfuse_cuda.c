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

/* The library calls, in files of their own compiled into this one library (they use its
 * context, stream and error state; native.built_path hashes them with this file). */
#include "mlirfuse_cublas.inc"
#include "mlirfuse_cudnn.inc"
