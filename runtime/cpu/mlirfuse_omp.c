/* mlirfuse's CPU thread runtime: the __kmpc_* entry points that MLIR's OpenMP
 * translation calls (omp.parallel + omp.wsloop with a static schedule), run on the
 * GNU OpenMP runtime torch already uses (libgomp's GOMP_parallel).
 *
 * Built at first use with the system C compiler (runtime/openmp.py). One OpenMP
 * runtime in the process, not two: a second runtime's threads (libiomp5's) and
 * torch's libgomp threads spin after their parallel regions and take the cores from
 * each other (a compiled kernel called right after a torch op ran at half speed).
 * Threads: libgomp's count, which torch.set_num_threads sets.
 *
 * Without libgomp (mlirfuse_omp_init not called or failed) every region runs on the
 * calling thread alone: correct, serial.
 */
#include <dlfcn.h>
#include <stdarg.h>
#include <stdint.h>

typedef struct ident ident_t;
typedef void (*microtask_t)(int32_t *, int32_t *, ...);

static void (*p_GOMP_parallel)(void (*)(void *), void *, unsigned, unsigned);
static void (*p_GOMP_barrier)(void);
static int (*p_omp_get_thread_num)(void);
static int (*p_omp_get_num_threads)(void);

/* Opens the libgomp at `path` (torch's); 0 on success. */
int mlirfuse_omp_init(const char *path) {
  void *lib = dlopen(path, RTLD_NOW | RTLD_GLOBAL);
  if (!lib) return 1;
  *(void **)(&p_GOMP_parallel) = dlsym(lib, "GOMP_parallel");
  *(void **)(&p_GOMP_barrier) = dlsym(lib, "GOMP_barrier");
  *(void **)(&p_omp_get_thread_num) = dlsym(lib, "omp_get_thread_num");
  *(void **)(&p_omp_get_num_threads) = dlsym(lib, "omp_get_num_threads");
  if (!p_GOMP_parallel || !p_GOMP_barrier || !p_omp_get_thread_num || !p_omp_get_num_threads) {
    p_GOMP_parallel = 0;
    return 1;
  }
  return 0;
}

static int thread_num(void) { return p_GOMP_parallel ? p_omp_get_thread_num() : 0; }
static int num_threads(void) { return p_GOMP_parallel ? p_omp_get_num_threads() : 1; }

/* The team size of the last region (read by the tests). */
int mlirfuse_omp_last_team = 0;

#define MAX_ARGS 16
struct fork { microtask_t task; int argc; void *args[MAX_ARGS]; };

static void run_task(void *data) {
  struct fork *f = data;
  int32_t gtid = thread_num(), btid = gtid;
  if (gtid == 0) mlirfuse_omp_last_team = num_threads();
  void **a = f->args;
  switch (f->argc) {
  case 0: f->task(&gtid, &btid); break;
  case 1: f->task(&gtid, &btid, a[0]); break;
  case 2: f->task(&gtid, &btid, a[0], a[1]); break;
  case 3: f->task(&gtid, &btid, a[0], a[1], a[2]); break;
  case 4: f->task(&gtid, &btid, a[0], a[1], a[2], a[3]); break;
  default:
    f->task(&gtid, &btid, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10],
            a[11], a[12], a[13], a[14], a[15]);
  }
}

/* The outlined region receives its captures as pointer arguments (MLIR packs them
   into one struct: argc is 1). */
void __kmpc_fork_call(ident_t *loc, int32_t argc, microtask_t task, ...) {
  (void)loc;
  struct fork f = {task, argc, {0}};
  va_list ap;
  va_start(ap, task);
  for (int i = 0; i < argc && i < MAX_ARGS; i++) f.args[i] = va_arg(ap, void *);
  va_end(ap);
  if (p_GOMP_parallel)
    p_GOMP_parallel(run_task, &f, 0 /* libgomp's thread count */, 0);
  else
    run_task(&f);
}

int32_t __kmpc_global_thread_num(ident_t *loc) {
  (void)loc;
  return thread_num();
}

void __kmpc_barrier(ident_t *loc, int32_t gtid) {
  (void)loc, (void)gtid;
  if (p_GOMP_parallel) p_GOMP_barrier();
}

/* Static schedule without chunks: the iterations [lower, upper] (inclusive, step
   `incr`) in one contiguous block per thread, the first trip % n threads one longer. */
static void static_init(int32_t *last, uint64_t *lower, uint64_t *upper, int64_t *stride,
                        int64_t incr) {
  uint64_t lo = *lower, hi = *upper, step = incr > 0 ? (uint64_t)incr : 1;
  /* MLIR normalizes loops to [0, trip - 1] step 1: trip 0 comes as upper = 2^64 - 1. */
  uint64_t trip = step == 1 ? hi - lo + 1 : hi >= lo ? (hi - lo) / step + 1 : 0;
  uint64_t n = (uint64_t)num_threads(), t = (uint64_t)thread_num();
  uint64_t per = trip / n, extra = trip % n;
  uint64_t begin = t * per + (t < extra ? t : extra);
  uint64_t count = per + (t < extra ? 1 : 0);
  if (count == 0) {  /* no iterations: an empty range (upper = lower - 1) */
    *lower = lo + trip * step + 1;
    *upper = lo + trip * step;
    *last = 0;
  } else {
    *lower = lo + begin * step;
    *upper = lo + (begin + count - 1) * step;
    *last = begin + count == trip;
  }
  *stride = (int64_t)(trip * step);
}

void __kmpc_for_static_init_8u(ident_t *loc, int32_t gtid, int32_t schedule, int32_t *last,
                               uint64_t *lower, uint64_t *upper, int64_t *stride,
                               int64_t incr, int64_t chunk) {
  (void)loc, (void)gtid, (void)schedule, (void)chunk;
  static_init(last, lower, upper, stride, incr);
}

void __kmpc_for_static_init_8(ident_t *loc, int32_t gtid, int32_t schedule, int32_t *last,
                              int64_t *lower, int64_t *upper, int64_t *stride, int64_t incr,
                              int64_t chunk) {
  (void)loc, (void)gtid, (void)schedule, (void)chunk;
  static_init(last, (uint64_t *)lower, (uint64_t *)upper, stride, incr);
}

void __kmpc_for_static_fini(ident_t *loc, int32_t gtid) { (void)loc, (void)gtid; }
