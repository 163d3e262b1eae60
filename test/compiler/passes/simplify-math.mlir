// RUN: mlirfuse-opt %s --pass-pipeline='builtin.module(mlirfuse-simplify-math)' | FileCheck %s

#m = affine_map<(d0) -> (d0)>

// mish: x * tanh(softplus(x)) with torch's threshold 20. The log1p and the tanh go:
// n = e * (e + 2), tanh(log1p(e)) = n / (n + 2), and 1.0 above the threshold.
// CHECK-LABEL: func.func @mish
// CHECK: %[[E:.*]] = math.exp %[[X:[^ ]*]] : f32
// CHECK-NOT: math.log1p
// CHECK: %[[C:.*]] = arith.cmpf ogt, %[[X]]
// CHECK: %[[E2:.*]] = arith.addf %[[E]], %[[TWO:.*]] : f32
// CHECK: %[[N:.*]] = arith.mulf %[[E]], %[[E2]] : f32
// CHECK: %[[N2:.*]] = arith.addf %[[N]], %[[TWO]] : f32
// CHECK: %[[Q:.*]] = arith.divf %[[N]], %[[N2]] : f32
// CHECK: %[[T:.*]] = arith.select %[[C]], %{{.*}}, %[[Q]] : f32
// CHECK-NOT: math.tanh
// CHECK: arith.mulf %[[X]], %[[T]] : f32
func.func @mish(%x: tensor<64xf32>, %init: tensor<64xf32>) -> tensor<64xf32> {
  %t = arith.constant 2.000000e+01 : f32
  %0 = linalg.generic {indexing_maps = [#m, #m], iterator_types = ["parallel"]} ins(%x : tensor<64xf32>) outs(%init : tensor<64xf32>) {
  ^bb0(%in: f32, %out: f32):
    %4 = math.exp %in : f32
    %5 = math.log1p %4 : f32
    %6 = arith.cmpf ogt, %in, %t : f32
    %7 = arith.select %6, %in, %5 : f32
    %8 = math.tanh %7 : f32
    %9 = arith.mulf %in, %8 : f32
    linalg.yield %9 : f32
  } -> tensor<64xf32>
  return %0 : tensor<64xf32>
}

// A threshold of 50 (e^100 overflows f32) or 5 (tanh(6) is not 1.0), and f64 stay.
// CHECK-LABEL: func.func @left_alone
// CHECK-COUNT-3: math.tanh
func.func @left_alone(%x: tensor<64xf32>, %d: tensor<64xf64>, %init: tensor<64xf32>, %dinit: tensor<64xf64>) -> (tensor<64xf32>, tensor<64xf64>) {
  %big = arith.constant 5.000000e+01 : f32
  %small = arith.constant 5.000000e+00 : f32
  %t64 = arith.constant 2.000000e+01 : f64
  %0 = linalg.generic {indexing_maps = [#m, #m], iterator_types = ["parallel"]} ins(%x : tensor<64xf32>) outs(%init : tensor<64xf32>) {
  ^bb0(%in: f32, %out: f32):
    %4 = math.exp %in : f32
    %5 = math.log1p %4 : f32
    %6 = arith.cmpf ogt, %in, %big : f32
    %7 = arith.select %6, %in, %5 : f32
    %8 = math.tanh %7 : f32
    %10 = arith.cmpf ogt, %in, %small : f32
    %11 = arith.select %10, %in, %5 : f32
    %12 = math.tanh %11 : f32
    %13 = arith.addf %8, %12 : f32
    linalg.yield %13 : f32
  } -> tensor<64xf32>
  %1 = linalg.generic {indexing_maps = [#m, #m], iterator_types = ["parallel"]} ins(%d : tensor<64xf64>) outs(%dinit : tensor<64xf64>) {
  ^bb0(%in: f64, %out: f64):
    %4 = math.exp %in : f64
    %5 = math.log1p %4 : f64
    %6 = arith.cmpf ogt, %in, %t64 : f64
    %7 = arith.select %6, %in, %5 : f64
    %8 = math.tanh %7 : f64
    linalg.yield %8 : f64
  } -> tensor<64xf64>
  return %0, %1 : tensor<64xf32>, tensor<64xf64>
}

#m2 = affine_map<(d0, d1) -> (d0, d1)>

// Symbolic sizes: mish over a batch of rows of symbolic count (tensor<?x512xf32>, its
// destination a tensor.empty of the tensor.dim), as the pipeline makes it when the batch
// dimension is symbolic. The rewrite is in the body, per element, so it is the same as
// on static sizes: one exp, the division, no log1p and no tanh; the op keeps its
// symbolic type.
// CHECK-LABEL: func.func @mish_symbolic_batch
// CHECK: %[[D:.*]] = tensor.dim %{{.*}}, %{{.*}} : tensor<?x512xf32>
// CHECK: tensor.empty(%[[D]]) : tensor<?x512xf32>
// CHECK: %[[E:.*]] = math.exp %[[X:[^ ]*]] : f32
// CHECK-NOT: math.log1p
// CHECK: %[[C:.*]] = arith.cmpf ogt, %[[X]]
// CHECK: %[[N:.*]] = arith.mulf %[[E]], %{{.*}} : f32
// CHECK: %[[Q:.*]] = arith.divf %[[N]], %{{.*}} : f32
// CHECK: %[[T:.*]] = arith.select %[[C]], %{{.*}}, %[[Q]] : f32
// CHECK-NOT: math.tanh
// CHECK: arith.mulf %[[X]], %[[T]] : f32
// CHECK: } -> tensor<?x512xf32>
func.func @mish_symbolic_batch(%x: tensor<?x512xf32>) -> tensor<?x512xf32> {
  %c0 = arith.constant 0 : index
  %t = arith.constant 2.000000e+01 : f32
  %n = tensor.dim %x, %c0 : tensor<?x512xf32>
  %init = tensor.empty(%n) : tensor<?x512xf32>
  %0 = linalg.generic {indexing_maps = [#m2, #m2], iterator_types = ["parallel", "parallel"]} ins(%x : tensor<?x512xf32>) outs(%init : tensor<?x512xf32>) {
  ^bb0(%in: f32, %out: f32):
    %4 = math.exp %in : f32
    %5 = math.log1p %4 : f32
    %6 = arith.cmpf ogt, %in, %t : f32
    %7 = arith.select %6, %in, %5 : f32
    %8 = math.tanh %7 : f32
    %9 = arith.mulf %in, %8 : f32
    linalg.yield %9 : f32
  } -> tensor<?x512xf32>
  return %0 : tensor<?x512xf32>
}
