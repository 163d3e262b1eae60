// RUN: mlirfuse-opt %s --pass-pipeline='builtin.module(mlirfuse-conv-bias-epilogue)' | FileCheck %s
// RUN: env MLIRFUSE_CUDNN_SYMBOLIC_BATCH=0 mlirfuse-opt %s --pass-pipeline='builtin.module(mlirfuse-conv-bias-epilogue)' | FileCheck %s --check-prefix=OFF

#x = affine_map<(d0, d1, d2, d3, d4, d5, d6) -> (d0, d4, d2 + d5, d3 + d6)>
#w = affine_map<(d0, d1, d2, d3, d4, d5, d6) -> (d1, d4, d5, d6)>
#y = affine_map<(d0, d1, d2, d3, d4, d5, d6) -> (d0, d1, d2, d3)>
#bias = affine_map<(d0, d1, d2, d3) -> (d1)>
#all = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#scalar = affine_map<(d0, d1, d2, d3) -> ()>

// F.conv2d(x, w, b) as torch-mlir writes it (the bias broadcast into the accumulator):
// the convolution starts from zeros, and the bias is added to its result.
// CHECK-LABEL: func.func @bias
// CHECK-SAME: (%[[X:.*]]: tensor<2x4x10x10xf32>, %[[W:.*]]: tensor<8x4x3x3xf32>, %[[B:.*]]: tensor<8xf32>)
// CHECK: %[[ZERO:.*]] = linalg.fill
// CHECK: %[[CONV:.*]] = linalg.generic {{.*}} ins(%[[X]], %[[W]] : {{.*}}) outs(%[[ZERO]] :
// CHECK: %[[SUM:.*]] = linalg.generic {{.*}} ins(%[[CONV]], %[[B]] : tensor<2x8x8x8xf32>, tensor<8xf32>)
// CHECK: arith.addf
// CHECK: return %[[SUM]]
func.func @bias(%x: tensor<2x4x10x10xf32>, %w: tensor<8x4x3x3xf32>, %b: tensor<8xf32>) -> tensor<2x8x8x8xf32> {
  %empty = tensor.empty() : tensor<2x8x8x8xf32>
  %init = linalg.generic {indexing_maps = [#bias, #all], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%b : tensor<8xf32>) outs(%empty : tensor<2x8x8x8xf32>) {
  ^bb0(%in: f32, %out: f32):
    linalg.yield %in : f32
  } -> tensor<2x8x8x8xf32>
  %conv = linalg.generic {indexing_maps = [#x, #w, #y], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction", "reduction", "reduction"]} ins(%x, %w : tensor<2x4x10x10xf32>, tensor<8x4x3x3xf32>) outs(%init : tensor<2x8x8x8xf32>) {
  ^bb0(%p: f32, %q: f32, %o: f32):
    %1 = arith.mulf %p, %q : f32
    %2 = arith.addf %o, %1 : f32
    linalg.yield %2 : f32
  } -> tensor<2x8x8x8xf32>
  return %conv : tensor<2x8x8x8xf32>
}

// A zero fill (no bias: a scalar broadcast) stays the accumulator: nothing to move.
// CHECK-LABEL: func.func @no_bias
// CHECK: %[[INIT:.*]] = linalg.generic {{.*}} ins(%{{.*}} : f32)
// CHECK: %[[CONV:.*]] = linalg.generic {{.*}} outs(%[[INIT]] :
// CHECK: return %[[CONV]]
func.func @no_bias(%x: tensor<2x4x10x10xf32>, %w: tensor<8x4x3x3xf32>) -> tensor<2x8x8x8xf32> {
  %zero = arith.constant 0.0 : f32
  %empty = tensor.empty() : tensor<2x8x8x8xf32>
  %init = linalg.generic {indexing_maps = [#scalar, #all], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%zero : f32) outs(%empty : tensor<2x8x8x8xf32>) {
  ^bb0(%in: f32, %out: f32):
    linalg.yield %in : f32
  } -> tensor<2x8x8x8xf32>
  %conv = linalg.generic {indexing_maps = [#x, #w, #y], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction", "reduction", "reduction"]} ins(%x, %w : tensor<2x4x10x10xf32>, tensor<8x4x3x3xf32>) outs(%init : tensor<2x8x8x8xf32>) {
  ^bb0(%p: f32, %q: f32, %o: f32):
    %1 = arith.mulf %p, %q : f32
    %2 = arith.addf %o, %1 : f32
    linalg.yield %2 : f32
  } -> tensor<2x8x8x8xf32>
  return %conv : tensor<2x8x8x8xf32>
}

// A symbolic batch: cuDNN takes it (the batch read per call, mlirfuse-library-conv), so
// the bias moves as for static sizes: a zero fill for the convolution, the bias added
// in an epilogue over its result. With MLIRFUSE_CUDNN_SYMBOLIC_BATCH=0 (OFF) it is left
// alone: the convolution stays a kernel, the broadcast bias its accumulator.
// CHECK-LABEL: func.func @symbolic_batch
// CHECK: %[[FILL:.*]] = linalg.fill ins(%{{.*}} : f32) outs(%{{.*}} : tensor<?x8x8x8xf32>)
// CHECK: %[[CONV:.*]] = linalg.generic {{.*}} outs(%[[FILL]] : tensor<?x8x8x8xf32>)
// CHECK: %[[OUT:.*]] = linalg.generic {{.*}} ins(%[[CONV]], %{{.*}} : tensor<?x8x8x8xf32>, tensor<8xf32>)
// CHECK: return %[[OUT]]
// OFF-LABEL: func.func @symbolic_batch
// OFF-NOT: linalg.fill
// OFF: %[[INIT:.*]] = linalg.generic {{.*}} ins(%{{.*}} : tensor<8xf32>) outs(%{{.*}} : tensor<?x8x8x8xf32>)
// OFF: %[[CONV:.*]] = linalg.generic {{.*}} outs(%[[INIT]] : tensor<?x8x8x8xf32>)
// OFF-NOT: linalg.generic
// OFF: return %[[CONV]]
func.func @symbolic_batch(%x: tensor<?x4x10x10xf32>, %w: tensor<8x4x3x3xf32>, %b: tensor<8xf32>) -> tensor<?x8x8x8xf32> {
  %c0 = arith.constant 0 : index
  %n = tensor.dim %x, %c0 : tensor<?x4x10x10xf32>
  %empty = tensor.empty(%n) : tensor<?x8x8x8xf32>
  %init = linalg.generic {indexing_maps = [#bias, #all], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%b : tensor<8xf32>) outs(%empty : tensor<?x8x8x8xf32>) {
  ^bb0(%in: f32, %out: f32):
    linalg.yield %in : f32
  } -> tensor<?x8x8x8xf32>
  %conv = linalg.generic {indexing_maps = [#x, #w, #y], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction", "reduction", "reduction"]} ins(%x, %w : tensor<?x4x10x10xf32>, tensor<8x4x3x3xf32>) outs(%init : tensor<?x8x8x8xf32>) {
  ^bb0(%p: f32, %q: f32, %o: f32):
    %1 = arith.mulf %p, %q : f32
    %2 = arith.addf %o, %1 : f32
    linalg.yield %2 : f32
  } -> tensor<?x8x8x8xf32>
  return %conv : tensor<?x8x8x8xf32>
}
