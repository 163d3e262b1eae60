// RUN: mlirfuse-opt %s --split-input-file --pass-pipeline='builtin.module(mlirfuse-form-fusion-groups)' | FileCheck %s
// RUN: mlirfuse-opt %s --split-input-file --pass-pipeline='builtin.module(mlirfuse-form-fusion-groups{library-contractions=true})' | FileCheck %s --check-prefix=LIB

#map = affine_map<(d0, d1) -> (d0, d1)>
#map1 = affine_map<(d0, d1) -> (d0)>

// Softmax as torch-mlir emits it (after unit-dim folding and elementwise fusion):
// max, exp, sum, div over the same rows: one group, tiled over rows (loop 0).
// CHECK-LABEL: func.func @softmax
// CHECK-SAME: (%[[X:.*]]: tensor<8x64xf32>)
// CHECK: %[[G:.*]] = "mlirfuse.group"(%[[X]]) ({
// CHECK: ^bb0(%[[IN:.*]]: tensor<8x64xf32>):
// CHECK: linalg.fill
// CHECK: arith.maximumf
// CHECK: math.exp
// CHECK: linalg.fill
// CHECK: arith.addf
// CHECK: linalg.generic {{.*}} attrs = {mlirfuse.tile_loops = array<i64: 0>}
// CHECK: arith.divf
// CHECK: gpu.yield
// CHECK: }) {kernel = "kernel_0"
// CHECK-NOT: mlirfuse.group
// CHECK: return %[[G]]
func.func @softmax(%arg0: tensor<8x64xf32>) -> tensor<8x64xf32> {
  %cst = arith.constant 0xFF800000 : f32
  %cst_0 = arith.constant 0.000000e+00 : f32
  %0 = tensor.empty() : tensor<8xf32>
  %1 = linalg.fill ins(%cst : f32) outs(%0 : tensor<8xf32>) -> tensor<8xf32>
  %2 = linalg.generic {indexing_maps = [#map, #map1], iterator_types = ["parallel", "reduction"]} ins(%arg0 : tensor<8x64xf32>) outs(%1 : tensor<8xf32>) {
  ^bb0(%in: f32, %out: f32):
    %8 = arith.maximumf %in, %out : f32
    linalg.yield %8 : f32
  } -> tensor<8xf32>
  %3 = tensor.empty() : tensor<8x64xf32>
  %4 = linalg.generic {indexing_maps = [#map, #map1, #map], iterator_types = ["parallel", "parallel"]} ins(%arg0, %2 : tensor<8x64xf32>, tensor<8xf32>) outs(%3 : tensor<8x64xf32>) {
  ^bb0(%in: f32, %in_1: f32, %out: f32):
    %8 = arith.subf %in, %in_1 : f32
    %9 = math.exp %8 : f32
    linalg.yield %9 : f32
  } -> tensor<8x64xf32>
  %5 = linalg.fill ins(%cst_0 : f32) outs(%0 : tensor<8xf32>) -> tensor<8xf32>
  %6 = linalg.generic {indexing_maps = [#map, #map1], iterator_types = ["parallel", "reduction"]} ins(%4 : tensor<8x64xf32>) outs(%5 : tensor<8xf32>) {
  ^bb0(%in: f32, %out: f32):
    %8 = arith.addf %in, %out : f32
    linalg.yield %8 : f32
  } -> tensor<8xf32>
  %7 = linalg.generic {indexing_maps = [#map, #map1, #map], iterator_types = ["parallel", "parallel"]} ins(%4, %6 : tensor<8x64xf32>, tensor<8xf32>) outs(%3 : tensor<8x64xf32>) {
  ^bb0(%in: f32, %in_1: f32, %out: f32):
    %8 = arith.divf %in, %in_1 : f32
    linalg.yield %8 : f32
  } -> tensor<8x64xf32>
  return %7 : tensor<8x64xf32>
}

// -----

#map = affine_map<(d0, d1) -> (d0, d1)>
#map1 = affine_map<(d0, d1) -> (d1)>

// A producer whose result is also returned stays out of its consumer's group
// (its whole result is needed): two kernels.
// CHECK-LABEL: func.func @used_outside
// CHECK: %[[A:.*]] = "mlirfuse.group"
// CHECK: kernel = "kernel_0"
// CHECK: %[[B:.*]] = "mlirfuse.group"(%[[A]])
// CHECK: kernel = "kernel_1"
// CHECK: return %[[A]], %[[B]]
func.func @used_outside(%x: tensor<4x8xf32>) -> (tensor<4x8xf32>, tensor<4x8xf32>) {
  %e = tensor.empty() : tensor<4x8xf32>
  %a = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel"]} ins(%x : tensor<4x8xf32>) outs(%e : tensor<4x8xf32>) {
  ^bb0(%in: f32, %out: f32):
    %0 = math.exp %in : f32
    linalg.yield %0 : f32
  } -> tensor<4x8xf32>
  %b = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel"]} ins(%a : tensor<4x8xf32>) outs(%e : tensor<4x8xf32>) {
  ^bb0(%in: f32, %out: f32):
    %0 = arith.mulf %in, %in : f32
    linalg.yield %0 : f32
  } -> tensor<4x8xf32>
  return %a, %b : tensor<4x8xf32>, tensor<4x8xf32>
}

// -----

#map = affine_map<(d0, d1) -> (d0, d1)>
#map1 = affine_map<(d0) -> (d0)>
#map2 = affine_map<(d0, d1) -> (d1)>

// A producer that does not vary along the tile loop (a bias computed per column,
// broadcast over rows) would be recomputed for every row: it is a kernel of its own.
// CHECK-LABEL: func.func @row_invariant_producer
// CHECK: "mlirfuse.group"(%{{.*}}) ({
// CHECK: tensor<16xf32>
// CHECK: kernel = "kernel_0"
// CHECK: "mlirfuse.group"
// CHECK: kernel = "kernel_1"
func.func @row_invariant_producer(%x: tensor<4x16xf32>, %b: tensor<16xf32>) -> tensor<4x16xf32> {
  %e1 = tensor.empty() : tensor<16xf32>
  %b2 = linalg.generic {indexing_maps = [#map1, #map1], iterator_types = ["parallel"]} ins(%b : tensor<16xf32>) outs(%e1 : tensor<16xf32>) {
  ^bb0(%in: f32, %out: f32):
    %0 = math.exp %in : f32
    linalg.yield %0 : f32
  } -> tensor<16xf32>
  %e2 = tensor.empty() : tensor<4x16xf32>
  %r = linalg.generic {indexing_maps = [#map, #map2, #map], iterator_types = ["parallel", "parallel"]} ins(%x, %b2 : tensor<4x16xf32>, tensor<16xf32>) outs(%e2 : tensor<4x16xf32>) {
  ^bb0(%in: f32, %in_0: f32, %out: f32):
    %0 = arith.addf %in, %in_0 : f32
    linalg.yield %0 : f32
  } -> tensor<4x16xf32>
  return %r : tensor<4x16xf32>
}

// -----

#a = affine_map<(d0, d1, d2, d3) -> (d0, d1, d3)>
#b = affine_map<(d0, d1, d2, d3) -> (d2, d3)>
#c = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>
#fill = affine_map<(d0, d1) -> (d0, d1)>

// library-contractions: a contraction accumulating into a zero fill seen through a
// reshape (the transformer's output projection: [8192, 512] zeros expanded to
// [128, 64, 512]) gets a zero fill of its own shape inside its group, which
// mlirfuse-library-gemm then drops (the call overwrites). Left as it was, the fill was a
// kernel, and bufferization copied its zeros into a new buffer for the GEMM to read back.
// LIB-LABEL: func.func @reshaped_fill
// LIB-NOT: tensor.expand_shape
// LIB: "mlirfuse.group"
// LIB: %[[EMPTY:.*]] = tensor.empty() : tensor<4x8x16xf32>
// LIB: %[[ZERO:.*]] = linalg.generic {{.*}} outs(%[[EMPTY]] : tensor<4x8x16xf32>)
// LIB: linalg.generic {{.*}} outs(%[[ZERO]] : tensor<4x8x16xf32>)
// LIB: gpu.yield
// LIB-NOT: "mlirfuse.group"
func.func @reshaped_fill(%x: tensor<4x8x32xf32>, %w: tensor<16x32xf32>) -> tensor<4x8x16xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<32x16xf32>
  %f = linalg.generic {indexing_maps = [#fill], iterator_types = ["parallel", "parallel"]} outs(%e : tensor<32x16xf32>) {
  ^bb0(%o: f32):
    linalg.yield %zero : f32
  } -> tensor<32x16xf32>
  %r = tensor.expand_shape %f [[0, 1], [2]] output_shape [4, 8, 16] : tensor<32x16xf32> into tensor<4x8x16xf32>
  %y = linalg.generic {indexing_maps = [#a, #b, #c], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%x, %w : tensor<4x8x32xf32>, tensor<16x32xf32>) outs(%r : tensor<4x8x16xf32>) {
  ^bb0(%p: f32, %q: f32, %o: f32):
    %1 = arith.mulf %p, %q : f32
    %2 = arith.addf %o, %1 : f32
    linalg.yield %2 : f32
  } -> tensor<4x8x16xf32>
  return %y : tensor<4x8x16xf32>
}

// -----

// A dynamic size: the tensor.empty cloned into the group takes its size from outside,
// so the size (a tensor.dim of the argument) is an operand of the group, not a value
// the isolated body would reach across its region.
// CHECK-LABEL: func.func @dynamic_rows
// LIB-LABEL: func.func @dynamic_rows
// CHECK: %[[N:.*]] = tensor.dim %[[X:.*]], %c0
// CHECK: "mlirfuse.group"(%{{.*}}, %[[N]]) ({
// CHECK: ^bb0(%{{.*}}: tensor<?x64xf32>, %[[SIZE:.*]]: index):
// CHECK: tensor.empty(%[[SIZE]]) : tensor<?x64xf32>
#rows = affine_map<(d0, d1) -> (d0, d1)>
func.func @dynamic_rows(%arg0: tensor<?x64xf32>) -> tensor<?x64xf32> {
  %c0 = arith.constant 0 : index
  %n = tensor.dim %arg0, %c0 : tensor<?x64xf32>
  %0 = tensor.empty(%n) : tensor<?x64xf32>
  %1 = linalg.generic {indexing_maps = [#rows, #rows], iterator_types = ["parallel", "parallel"]} ins(%arg0 : tensor<?x64xf32>) outs(%0 : tensor<?x64xf32>) {
  ^bb0(%in: f32, %out: f32):
    %2 = math.exp %in : f32
    linalg.yield %2 : f32
  } -> tensor<?x64xf32>
  return %1 : tensor<?x64xf32>
}
