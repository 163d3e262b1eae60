// RUN: mlirfuse-opt %s --pass-pipeline='builtin.module(mlirfuse-fold-accumulation)' | FileCheck %s

#id = affine_map<(d0, d1) -> (d0, d1)>
#a = affine_map<(d0, d1, d2) -> (d0, d2)>
#b = affine_map<(d0, d1, d2) -> (d2, d1)>
#c = affine_map<(d0, d1, d2) -> (d0, d1)>

// x @ w1 + h @ w2 (the LSTM's gates): the second product accumulates into the first's
// result and the elementwise add is gone.
// CHECK-LABEL: func.func @sum_of_products
// CHECK: %[[Z:.*]] = linalg.fill
// CHECK: %[[M1:.*]] = linalg.generic {{.*}} ins(%arg0, %arg1 : {{.*}}) outs(%[[Z]] :
// CHECK: %[[M2:.*]] = linalg.generic {{.*}} ins(%arg2, %arg3 : {{.*}}) outs(%[[M1]] :
// CHECK-NOT: linalg.generic
// CHECK: return %[[M2]]
func.func @sum_of_products(%x: tensor<4x8xf32>, %w1: tensor<8x16xf32>, %h: tensor<4x8xf32>, %w2: tensor<8x16xf32>) -> tensor<4x16xf32> {
  %cst = arith.constant 0.000000e+00 : f32
  %e = tensor.empty() : tensor<4x16xf32>
  %z = linalg.fill ins(%cst : f32) outs(%e : tensor<4x16xf32>) -> tensor<4x16xf32>
  %m1 = linalg.generic {indexing_maps = [#a, #b, #c], iterator_types = ["parallel", "parallel", "reduction"]} ins(%x, %w1 : tensor<4x8xf32>, tensor<8x16xf32>) outs(%z : tensor<4x16xf32>) {
  ^bb0(%in: f32, %in_0: f32, %out: f32):
    %0 = arith.mulf %in, %in_0 : f32
    %1 = arith.addf %out, %0 : f32
    linalg.yield %1 : f32
  } -> tensor<4x16xf32>
  %m2 = linalg.generic {indexing_maps = [#a, #b, #c], iterator_types = ["parallel", "parallel", "reduction"]} ins(%h, %w2 : tensor<4x8xf32>, tensor<8x16xf32>) outs(%z : tensor<4x16xf32>) {
  ^bb0(%in: f32, %in_0: f32, %out: f32):
    %0 = arith.mulf %in, %in_0 : f32
    %1 = arith.addf %out, %0 : f32
    linalg.yield %1 : f32
  } -> tensor<4x16xf32>
  %s = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel"]} ins(%m1, %m2 : tensor<4x16xf32>, tensor<4x16xf32>) outs(%e : tensor<4x16xf32>) {
  ^bb0(%in: f32, %in_0: f32, %out: f32):
    %0 = arith.addf %in, %in_0 : f32
    linalg.yield %0 : f32
  } -> tensor<4x16xf32>
  return %s : tensor<4x16xf32>
}

// A residual that is an argument stays an add: accumulating into it would need a copy
// of the argument first. A product also returned (two uses) stays as it is too.
// CHECK-LABEL: func.func @kept
// CHECK-COUNT-2: arith.addf %in, %in_0
// CHECK: return
func.func @kept(%x: tensor<4x8xf32>, %w: tensor<8x16xf32>, %r: tensor<4x16xf32>) -> (tensor<4x16xf32>, tensor<4x16xf32>, tensor<4x16xf32>) {
  %cst = arith.constant 0.000000e+00 : f32
  %e = tensor.empty() : tensor<4x16xf32>
  %z = linalg.fill ins(%cst : f32) outs(%e : tensor<4x16xf32>) -> tensor<4x16xf32>
  %m = linalg.generic {indexing_maps = [#a, #b, #c], iterator_types = ["parallel", "parallel", "reduction"]} ins(%x, %w : tensor<4x8xf32>, tensor<8x16xf32>) outs(%z : tensor<4x16xf32>) {
  ^bb0(%in: f32, %in_0: f32, %out: f32):
    %0 = arith.mulf %in, %in_0 : f32
    %1 = arith.addf %out, %0 : f32
    linalg.yield %1 : f32
  } -> tensor<4x16xf32>
  %s = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel"]} ins(%r, %m : tensor<4x16xf32>, tensor<4x16xf32>) outs(%e : tensor<4x16xf32>) {
  ^bb0(%in: f32, %in_0: f32, %out: f32):
    %0 = arith.addf %in, %in_0 : f32
    linalg.yield %0 : f32
  } -> tensor<4x16xf32>
  %n = linalg.generic {indexing_maps = [#a, #b, #c], iterator_types = ["parallel", "parallel", "reduction"]} ins(%x, %w : tensor<4x8xf32>, tensor<8x16xf32>) outs(%z : tensor<4x16xf32>) {
  ^bb0(%in: f32, %in_0: f32, %out: f32):
    %0 = arith.mulf %in, %in_0 : f32
    %1 = arith.addf %out, %0 : f32
    linalg.yield %1 : f32
  } -> tensor<4x16xf32>
  %t = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel"]} ins(%s, %n : tensor<4x16xf32>, tensor<4x16xf32>) outs(%e : tensor<4x16xf32>) {
  ^bb0(%in: f32, %in_0: f32, %out: f32):
    %0 = arith.addf %in, %in_0 : f32
    linalg.yield %0 : f32
  } -> tensor<4x16xf32>
  return %s, %t, %n : tensor<4x16xf32>, tensor<4x16xf32>, tensor<4x16xf32>
}

#col = affine_map<(d0, d1) -> (d1)>

// The LSTM's gates with a symbolic batch, h @ w2 + (x @ w1 + b) as torch-mlir lowers
// them: every result is tensor<?x64xf32>, each zero init a fill of a tensor.empty sized
// by tensor.dim of its own input. The second product accumulates into the bias add's
// result (same type: the add reads both at the same points, so the sizes agree): it
// moves below the bias add, takes it as its init, and the elementwise sum is gone.
// CHECK-LABEL: func.func @dynamic_batch
// CHECK: %[[N2:.*]] = tensor.dim %arg3, %{{.*}} : tensor<?x16xf32>
// CHECK: %[[E2:.*]] = tensor.empty(%[[N2]]) : tensor<?x64xf32>
// CHECK: linalg.fill ins(%{{.*}} : f32) outs(%[[E2]] : tensor<?x64xf32>)
// CHECK: %[[M1:.*]] = linalg.generic {{.*}} ins(%arg0, %arg1 : tensor<?x8xf32>, tensor<8x64xf32>) outs(%{{.*}} : tensor<?x64xf32>)
// CHECK: %[[A:.*]] = linalg.generic {{.*}} ins(%[[M1]], %arg2 : tensor<?x64xf32>, tensor<64xf32>)
// CHECK: %[[M2:.*]] = linalg.generic {{.*}} ins(%arg3, %arg4 : tensor<?x16xf32>, tensor<16x64xf32>) outs(%[[A]] : tensor<?x64xf32>)
// CHECK-NOT: linalg.generic
// CHECK: return %[[M2]] : tensor<?x64xf32>
func.func @dynamic_batch(%x: tensor<?x8xf32>, %w1: tensor<8x64xf32>, %b: tensor<64xf32>, %h: tensor<?x16xf32>, %w2: tensor<16x64xf32>) -> tensor<?x64xf32> {
  %c0 = arith.constant 0 : index
  %cst = arith.constant 0.000000e+00 : f32
  %n2 = tensor.dim %h, %c0 : tensor<?x16xf32>
  %e2 = tensor.empty(%n2) : tensor<?x64xf32>
  %z2 = linalg.fill ins(%cst : f32) outs(%e2 : tensor<?x64xf32>) -> tensor<?x64xf32>
  %m2 = linalg.generic {indexing_maps = [#a, #b, #c], iterator_types = ["parallel", "parallel", "reduction"]} ins(%h, %w2 : tensor<?x16xf32>, tensor<16x64xf32>) outs(%z2 : tensor<?x64xf32>) {
  ^bb0(%in: f32, %in_0: f32, %out: f32):
    %0 = arith.mulf %in, %in_0 : f32
    %1 = arith.addf %out, %0 : f32
    linalg.yield %1 : f32
  } -> tensor<?x64xf32>
  %n = tensor.dim %x, %c0 : tensor<?x8xf32>
  %e = tensor.empty(%n) : tensor<?x64xf32>
  %z = linalg.fill ins(%cst : f32) outs(%e : tensor<?x64xf32>) -> tensor<?x64xf32>
  %m1 = linalg.generic {indexing_maps = [#a, #b, #c], iterator_types = ["parallel", "parallel", "reduction"]} ins(%x, %w1 : tensor<?x8xf32>, tensor<8x64xf32>) outs(%z : tensor<?x64xf32>) {
  ^bb0(%in: f32, %in_0: f32, %out: f32):
    %0 = arith.mulf %in, %in_0 : f32
    %1 = arith.addf %out, %0 : f32
    linalg.yield %1 : f32
  } -> tensor<?x64xf32>
  %a = linalg.generic {indexing_maps = [#id, #col, #id], iterator_types = ["parallel", "parallel"]} ins(%m1, %b : tensor<?x64xf32>, tensor<64xf32>) outs(%e : tensor<?x64xf32>) {
  ^bb0(%in: f32, %in_0: f32, %out: f32):
    %0 = arith.addf %in, %in_0 : f32
    linalg.yield %0 : f32
  } -> tensor<?x64xf32>
  %s = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel"]} ins(%m2, %a : tensor<?x64xf32>, tensor<?x64xf32>) outs(%e : tensor<?x64xf32>) {
  ^bb0(%in: f32, %in_0: f32, %out: f32):
    %0 = arith.addf %in, %in_0 : f32
    linalg.yield %0 : f32
  } -> tensor<?x64xf32>
  return %s : tensor<?x64xf32>
}
