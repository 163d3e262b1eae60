// RUN: mlirfuse-opt %s --pass-pipeline='builtin.module(mlirfuse-reshape-to-expand, canonicalize)' | FileCheck %s

// Attention's scores [b * h, s, t] viewed as [b, h, s, t] over symbolic lengths, as
// torch-mlir lowers it: each symbolic size behind the inferred-dimension select, the
// sizes the ones the scores were made with. An expand_shape of the scores now (a
// tensor.reshape was a copy that no fusion crossed).
// CHECK-LABEL: func.func @scores_to_heads
// CHECK-NOT: tensor.reshape
// CHECK: tensor.expand_shape %{{.*}} {{\[}}[0, 1], [2], [3]] output_shape [2, 4, %arg1, %arg2] : tensor<8x?x?xf32> into tensor<2x4x?x?xf32>
func.func @scores_to_heads(%x: tensor<8x?x?xf32>, %s: index, %t: index) -> tensor<2x4x?x?xf32> {
  %zero = arith.constant 0.0 : f32
  %c0 = arith.constant 0 : i64
  %c2 = arith.constant 2 : i64
  %c4 = arith.constant 4 : i64
  %e = tensor.empty(%s, %t) : tensor<8x?x?xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<8x?x?xf32>) -> tensor<8x?x?xf32>
  %si = arith.index_cast %s : index to i64
  %ti = arith.index_cast %t : index to i64
  %neg_s = arith.cmpi slt, %si, %c0 : i64
  %neg_t = arith.cmpi slt, %ti, %c0 : i64
  %inferred = arith.divsi %si, %ti : i64
  %n1 = arith.select %neg_s, %inferred, %si : i64
  %n2 = arith.select %neg_t, %inferred, %ti : i64
  %shape = tensor.from_elements %c2, %c4, %n1, %n2 : tensor<4xi64>
  %r = tensor.reshape %f(%shape) : (tensor<8x?x?xf32>, tensor<4xi64>) -> tensor<2x4x?x?xf32>
  return %r : tensor<2x4x?x?xf32>
}

// And back, [b, h, s, t] as [b * h, s, t], the sizes read from the source: a collapse.
// CHECK-LABEL: func.func @heads_to_scores
// CHECK-NOT: tensor.reshape
// CHECK: tensor.collapse_shape %arg0 {{\[}}[0, 1], [2], [3]] : tensor<2x4x?x?xf32> into tensor<8x?x?xf32>
func.func @heads_to_scores(%x: tensor<2x4x?x?xf32>) -> tensor<8x?x?xf32> {
  %c2 = arith.constant 2 : index
  %c3 = arith.constant 3 : index
  %c8 = arith.constant 8 : i64
  %s = tensor.dim %x, %c2 : tensor<2x4x?x?xf32>
  %t = tensor.dim %x, %c3 : tensor<2x4x?x?xf32>
  %si = arith.index_cast %s : index to i64
  %ti = arith.index_cast %t : index to i64
  %shape = tensor.from_elements %c8, %si, %ti : tensor<3xi64>
  %r = tensor.reshape %x(%shape) : (tensor<2x4x?x?xf32>, tensor<3xi64>) -> tensor<8x?x?xf32>
  return %r : tensor<8x?x?xf32>
}

// Sizes that are not the source's own dimensions (two symbols swapped, or a size
// computed otherwise) keep the reshape: the element count alone does not say which
// dimension is which.
// CHECK-LABEL: func.func @swapped_sizes_stay
// CHECK: tensor.reshape
func.func @swapped_sizes_stay(%x: tensor<8x?x?xf32>) -> tensor<2x4x?x?xf32> {
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %c2_i64 = arith.constant 2 : i64
  %c4_i64 = arith.constant 4 : i64
  %s = tensor.dim %x, %c1 : tensor<8x?x?xf32>
  %t = tensor.dim %x, %c2 : tensor<8x?x?xf32>
  %si = arith.index_cast %s : index to i64
  %ti = arith.index_cast %t : index to i64
  %shape = tensor.from_elements %c2_i64, %c4_i64, %ti, %si : tensor<4xi64>
  %r = tensor.reshape %x(%shape) : (tensor<8x?x?xf32>, tensor<4xi64>) -> tensor<2x4x?x?xf32>
  return %r : tensor<2x4x?x?xf32>
}
