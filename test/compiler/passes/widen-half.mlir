// RUN: mlirfuse-opt %s --split-input-file --pass-pipeline='builtin.module(mlirfuse-widen-half)' | FileCheck %s

// A fused f16 chain computes in f32 and rounds once, where the body yields.
// CHECK-LABEL: func.func @chain
// CHECK:       ^bb0(%[[IN:.*]]: f16, %{{.*}}: f16):
// CHECK-NEXT:    %[[W:.*]] = arith.extf %[[IN]] : f16 to f32
// CHECK-NEXT:    %[[C:.*]] = arith.extf %{{.*}} : f16 to f32
// CHECK-NEXT:    %[[M:.*]] = arith.mulf %[[W]], %[[C]] : f32
// CHECK-NEXT:    %[[T:.*]] = math.tanh %[[M]] : f32
// CHECK-NEXT:    %[[E:.*]] = math.exp %[[T]] : f32
// CHECK-NEXT:    %[[R:.*]] = arith.truncf %[[E]] : f32 to f16
// CHECK-NEXT:    linalg.yield %[[R]] : f16
#map = affine_map<(d0) -> (d0)>
func.func @chain(%x: tensor<64xf16>) -> tensor<64xf16> {
  %c = arith.constant 3.700000e+00 : f16
  %e = tensor.empty() : tensor<64xf16>
  %r = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel"]} ins(%x : tensor<64xf16>) outs(%e : tensor<64xf16>) {
  ^bb0(%in: f16, %out: f16):
    %0 = arith.mulf %in, %c : f16
    %1 = math.tanh %0 : f16
    %2 = math.exp %1 : f16
    linalg.yield %2 : f16
  } -> tensor<64xf16>
  return %r : tensor<64xf16>
}

// -----

// An explicit conversion to bf16 (the user's .bfloat16()) still rounds; a comparison
// of bf16 values compares their f32 forms; a body with no half arithmetic (a copy)
// is left alone.
// CHECK-LABEL: func.func @explicit_rounding
// CHECK:         %[[A:.*]] = arith.addf %{{.*}}, %{{.*}} : f32
// CHECK:         %[[T:.*]] = arith.truncf %[[A]] : f32 to bf16
// CHECK-NEXT:    %[[W:.*]] = arith.extf %[[T]] : bf16 to f32
// CHECK-NEXT:    %[[C:.*]] = arith.cmpf ogt, %[[W]], %{{.*}} : f32
// CHECK-NEXT:    %[[S:.*]] = arith.select %[[C]], %[[W]], %{{.*}} : f32
// CHECK-NEXT:    %[[R:.*]] = arith.truncf %[[S]] : f32 to bf16
// CHECK-NEXT:    linalg.yield %[[R]] : bf16
// CHECK-LABEL: func.func @copy
// CHECK:       ^bb0(%[[IN:.*]]: bf16, %{{.*}}: bf16):
// CHECK-NEXT:    linalg.yield %[[IN]] : bf16
#map = affine_map<(d0) -> (d0)>
func.func @explicit_rounding(%x: tensor<8xf32>, %y: tensor<8xbf16>) -> tensor<8xbf16> {
  %e = tensor.empty() : tensor<8xbf16>
  %r = linalg.generic {indexing_maps = [#map, #map, #map], iterator_types = ["parallel"]} ins(%x, %y : tensor<8xf32>, tensor<8xbf16>) outs(%e : tensor<8xbf16>) {
  ^bb0(%a: f32, %b: bf16, %out: bf16):
    %0 = arith.addf %a, %a : f32
    %1 = arith.truncf %0 : f32 to bf16
    %2 = arith.cmpf ogt, %1, %b : bf16
    %3 = arith.select %2, %1, %b : bf16
    linalg.yield %3 : bf16
  } -> tensor<8xbf16>
  return %r : tensor<8xbf16>
}
func.func @copy(%y: tensor<8xbf16>) -> tensor<8xbf16> {
  %e = tensor.empty() : tensor<8xbf16>
  %r = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel"]} ins(%y : tensor<8xbf16>) outs(%e : tensor<8xbf16>) {
  ^bb0(%b: bf16, %out: bf16):
    linalg.yield %b : bf16
  } -> tensor<8xbf16>
  return %r : tensor<8xbf16>
}

// -----

// Reductions are left alone (the GPU code generator reads their combining op).
// CHECK-LABEL: func.func @row_sum
// CHECK:         arith.addf %{{.*}}, %{{.*}} : f16
// CHECK-NOT:     arith.extf
#map = affine_map<(d0, d1) -> (d0, d1)>
#red = affine_map<(d0, d1) -> (d0)>
func.func @row_sum(%x: tensor<4x6xf16>, %init: tensor<4xf16>) -> tensor<4xf16> {
  %r = linalg.generic {indexing_maps = [#map, #red], iterator_types = ["parallel", "reduction"]} ins(%x : tensor<4x6xf16>) outs(%init : tensor<4xf16>) {
  ^bb0(%in: f16, %out: f16):
    %0 = arith.addf %in, %out : f16
    linalg.yield %0 : f16
  } -> tensor<4xf16>
  return %r : tensor<4xf16>
}

// -----

// A double rounds to bf16 through f32, as torch converts (c10::BFloat16(float(x))); the
// CPU JIT has no __truncdfbf2.
// CHECK-LABEL: func.func @double_to_bf16
// CHECK:         %[[F:.*]] = arith.truncf %{{.*}} : f64 to f32
// CHECK-NEXT:    arith.truncf %[[F]] : f32 to bf16
#map = affine_map<(d0) -> (d0)>
func.func @double_to_bf16(%x: tensor<8xf64>) -> tensor<8xbf16> {
  %e = tensor.empty() : tensor<8xbf16>
  %r = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel"]} ins(%x : tensor<8xf64>) outs(%e : tensor<8xbf16>) {
  ^bb0(%in: f64, %out: bf16):
    %0 = arith.truncf %in : f64 to bf16
    linalg.yield %0 : bf16
  } -> tensor<8xbf16>
  return %r : tensor<8xbf16>
}

// -----

// Symbolic sizes: attention scores of symbolic query and key counts (tensor<?x?xf16>,
// the destination a tensor.empty of the tensor.dims), scaled and causally masked with
// the keys' offset m - n (a KV cache of symbolic length). The f16 arithmetic computes in
// f32 and rounds once where the body yields; the index arithmetic on linalg.index and
// the symbolic offset stays as it is.
// CHECK-LABEL: func.func @causal_mask_symbolic
// CHECK:         %[[N:.*]] = tensor.dim %{{.*}}, %{{.*}} : tensor<?x?xf16>
// CHECK:         %[[M:.*]] = tensor.dim %{{.*}}, %{{.*}} : tensor<?x?xf16>
// CHECK:         tensor.empty(%[[N]], %[[M]]) : tensor<?x?xf16>
// CHECK:       ^bb0(%[[IN:.*]]: f16, %{{.*}}: f16):
// CHECK-NEXT:    %[[W:.*]] = arith.extf %[[IN]] : f16 to f32
// CHECK:         %[[K:.*]] = arith.addi %{{.*}}, %{{.*}} : index
// CHECK-NEXT:    %[[F:.*]] = arith.cmpi ugt, %{{.*}}, %[[K]] : index
// CHECK-NEXT:    %[[S:.*]] = arith.extf %{{.*}} : f16 to f32
// CHECK-NEXT:    %[[X:.*]] = arith.mulf %[[W]], %[[S]] : f32
// CHECK-NEXT:    %[[I:.*]] = arith.extf %{{.*}} : f16 to f32
// CHECK-NEXT:    %[[R:.*]] = arith.select %[[F]], %[[I]], %[[X]] : f32
// CHECK-NEXT:    %[[T:.*]] = arith.truncf %[[R]] : f32 to f16
// CHECK-NEXT:    linalg.yield %[[T]] : f16
// CHECK-NEXT:  } -> tensor<?x?xf16>
#map = affine_map<(d0, d1) -> (d0, d1)>
func.func @causal_mask_symbolic(%x: tensor<?x?xf16>) -> tensor<?x?xf16> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %scale = arith.constant 1.250000e-01 : f16
  %ninf = arith.constant 0xFC00 : f16
  %n = tensor.dim %x, %c0 : tensor<?x?xf16>
  %m = tensor.dim %x, %c1 : tensor<?x?xf16>
  %past = arith.subi %m, %n : index
  %e = tensor.empty(%n, %m) : tensor<?x?xf16>
  %r = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel"]} ins(%x : tensor<?x?xf16>) outs(%e : tensor<?x?xf16>) {
  ^bb0(%in: f16, %out: f16):
    %i = linalg.index 0 : index
    %j = linalg.index 1 : index
    %last = arith.addi %i, %past : index
    %future = arith.cmpi ugt, %j, %last : index
    %0 = arith.mulf %in, %scale : f16
    %1 = arith.select %future, %ninf, %0 : f16
    linalg.yield %1 : f16
  } -> tensor<?x?xf16>
  return %r : tensor<?x?xf16>
}
