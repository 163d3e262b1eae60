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
 *   - caches kernel lookups (mgpuModuleGetFunction runs before every launch).
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
