// RUN: mlirfuse-opt %s --pass-pipeline='builtin.module(mlirfuse-expand-math)' | FileCheck %s

// exp on a vector of f32: clamp, 2^n from exponent bits, a polynomial; no math.exp left.
// CHECK-LABEL: func.func @exp_vector
// CHECK-NOT: math.exp
// CHECK: arith.maximumf {{.*}} : vector<8xf32>
// CHECK: math.floor {{.*}} : vector<8xf32>
// CHECK: math.fma
// CHECK: arith.shli {{.*}} : vector<8xi32>
// CHECK: arith.bitcast {{.*}} : vector<8xi32> to vector<8xf32>
// CHECK: arith.select
// CHECK-NOT: math.exp
// CHECK: return
func.func @exp_vector(%x: vector<8xf32>) -> vector<8xf32> {
  %y = math.exp %x : vector<8xf32>
  return %y : vector<8xf32>
}

// log1p, tanh and log on scalars: the same arithmetic, no libm call.
// CHECK-LABEL: func.func @scalars
// CHECK-NOT: math.log1p
// CHECK-NOT: math.tanh
// CHECK-NOT: math.log
// CHECK: return
func.func @scalars(%x: f32) -> (f32, f32, f32) {
  %a = math.log1p %x : f32
  %b = math.tanh %x : f32
  %c = math.log %x : f32
  return %a, %b, %c : f32, f32, f32
}

// f64 keeps libm's (the approximations are single precision).
// CHECK-LABEL: func.func @f64_untouched
// CHECK: math.exp {{.*}} : f64
func.func @f64_untouched(%x: f64) -> f64 {
  %y = math.exp %x : f64
  return %y : f64
}

// x ** 2 (rmsnorm's, on vectors after vectorization): a product; LLVM's powi takes no
// vector exponent.
// CHECK-LABEL: func.func @square_vector
// CHECK-NOT: math.fpowi
// CHECK: %[[SQ:.*]] = arith.mulf %arg0, %arg0 : vector<16xf32>
// CHECK: return %[[SQ]]
func.func @square_vector(%x: vector<16xf32>) -> vector<16xf32> {
  %c2 = arith.constant 2 : i64
  %n = vector.broadcast %c2 : i64 to vector<16xi64>
  %y = math.fpowi %x, %n : vector<16xf32>, vector<16xi64>
  return %y : vector<16xf32>
}

// An integer converted to bf16 goes through f32 (then arith-expand's integer rounding):
// the JIT has no __truncsfbf2. An f64 erf calls libm (refback-expand-ops-for-llvm expands
// f32 only), one call per lane.
// CHECK-LABEL: func.func @conversions_and_erf
// CHECK:         %[[W:.*]] = arith.uitofp %{{.*}} : vector<2xi1> to vector<2xf32>
// CHECK:         arith.truncf %[[W]] : vector<2xf32> to vector<2xbf16>
// CHECK:         vector.extract %{{.*}}[0] : f64 from vector<2xf64>
// CHECK:         call @erf(%{{.*}}) : (f64) -> f64
// CHECK:         call @erf(%{{.*}}) : (f64) -> f64
// CHECK-NOT:     math.erf
func.func @conversions_and_erf(%b: vector<2xi1>, %x: vector<2xf64>) -> (vector<2xbf16>, vector<2xf64>) {
  %0 = arith.uitofp %b : vector<2xi1> to vector<2xbf16>
  %1 = math.erf %x : vector<2xf64>
  return %0, %1 : vector<2xbf16>, vector<2xf64>
}

// An n-D vector is made 1-D for the calls (bench/fuzz.py seed 205: vector<1x8xf64>).
// CHECK-LABEL: func.func @erf_2d
// CHECK:         vector.shape_cast %{{.*}} : vector<1x2xf64> to vector<2xf64>
// CHECK-COUNT-2: call @erf
// CHECK:         vector.shape_cast %{{.*}} : vector<2xf64> to vector<1x2xf64>
func.func @erf_2d(%x: vector<1x2xf64>) -> vector<1x2xf64> {
  %0 = math.erf %x : vector<1x2xf64>
  return %0 : vector<1x2xf64>
}

// Symbolic sizes: exp over a row of symbolic length (a memref<1x?xf32> tile, its length
// a memref.dim), as mlirfuse-vectorize-kernels leaves it: full steps of 16 as
// vector<1x16xf32>, the remainder scalar. Both become the arithmetic: the expansion is
// per value, whatever the loops' bounds; no math.exp is left in either loop.
// CHECK-LABEL: func.func @exp_symbolic_row
// CHECK: %[[N:.*]] = memref.dim %{{.*}}, %{{.*}} : memref<1x?xf32, strided<[?, 1], offset: ?>>
// CHECK: %[[FULL:.*]] = arith.subi %[[N]], %{{.*}} : index
// CHECK: scf.for %{{.*}} = %{{.*}} to %[[FULL]] step
// CHECK-NOT: math.exp
// CHECK: math.floor {{.*}} : vector<1x16xf32>
// CHECK: arith.bitcast {{.*}} : vector<1x16xi32> to vector<1x16xf32>
// CHECK: vector.transfer_write
// CHECK: scf.for %{{.*}} = %[[FULL]] to %[[N]] step
// CHECK-NOT: math.exp
// CHECK: math.floor {{.*}} : f32
// CHECK: arith.bitcast {{.*}} : i32 to f32
// CHECK-NOT: math.exp
// CHECK: memref.store
// CHECK-NOT: math.exp
// CHECK: return
func.func @exp_symbolic_row(%x: memref<1x?xf32, strided<[?, 1], offset: ?>>, %y: memref<1x?xf32, strided<[?, 1], offset: ?>>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c16 = arith.constant 16 : index
  %pad = arith.constant 0.000000e+00 : f32
  %n = memref.dim %x, %c1 : memref<1x?xf32, strided<[?, 1], offset: ?>>
  %rem = arith.remsi %n, %c16 : index
  %full = arith.subi %n, %rem : index
  scf.for %j = %c0 to %full step %c16 {
    %v = vector.transfer_read %x[%c0, %j], %pad {in_bounds = [true, true]} : memref<1x?xf32, strided<[?, 1], offset: ?>>, vector<1x16xf32>
    %e = math.exp %v : vector<1x16xf32>
    vector.transfer_write %e, %y[%c0, %j] {in_bounds = [true, true]} : vector<1x16xf32>, memref<1x?xf32, strided<[?, 1], offset: ?>>
  }
  scf.for %j = %full to %n step %c1 {
    %a = memref.load %x[%c0, %j] : memref<1x?xf32, strided<[?, 1], offset: ?>>
    %e = math.exp %a : f32
    memref.store %e, %y[%c0, %j] : memref<1x?xf32, strided<[?, 1], offset: ?>>
  }
  return
}
