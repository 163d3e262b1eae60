// RUN: mlirfuse-opt %s --pass-pipeline='builtin.module(mlirfuse-shield-contractions, func.func(linalg-fuse-elementwise-ops))' | FileCheck %s
// RUN: mlirfuse-opt %s --pass-pipeline='builtin.module(mlirfuse-shield-contractions, func.func(linalg-fuse-elementwise-ops), mlirfuse-shield-contractions{remove=true})' | FileCheck %s --check-prefix=REMOVED
// RUN: mlirfuse-opt %s --pass-pipeline='builtin.module(mlirfuse-shield-contractions{half=true}, func.func(linalg-fuse-elementwise-ops))' | FileCheck %s --check-prefix=HALF

#id = affine_map<(d0, d1) -> (d0, d1)>
#a = affine_map<(d0, d1, d2) -> (d0, d2)>
#b = affine_map<(d0, d1, d2) -> (d2, d1)>
#c = affine_map<(d0, d1, d2) -> (d0, d1)>

// The tanh stays a generic of its own: fused into the matmul it would run once per
// multiply-add. The matmul's body stays mul + add.
// CHECK-LABEL: func.func @tanh_then_matmul
// CHECK: %[[T:.*]] = linalg.generic {{.*}}iterator_types = ["parallel", "parallel"]
// CHECK: math.tanh
// CHECK: %[[S:.*]] = "mlirfuse.shield"(%[[T]])
// CHECK: linalg.generic {{.*}} ins(%[[S]], %{{.*}} :
// CHECK-NEXT: ^bb0
// CHECK-NEXT: arith.mulf
// CHECK-NEXT: arith.addf
// CHECK-NEXT: linalg.yield
// REMOVED-NOT: mlirfuse.shield
// REMOVED: math.tanh
// REMOVED: linalg.generic
func.func @tanh_then_matmul(%x: tensor<4x8xf32>, %w: tensor<8x16xf32>, %acc: tensor<4x16xf32>) -> tensor<4x16xf32> {
  %e = tensor.empty() : tensor<4x8xf32>
  %t = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]} ins(%x : tensor<4x8xf32>) outs(%e : tensor<4x8xf32>) {
  ^bb0(%in: f32, %out: f32):
    %0 = math.tanh %in : f32
    linalg.yield %0 : f32
  } -> tensor<4x8xf32>
  %m = linalg.generic {indexing_maps = [#a, #b, #c], iterator_types = ["parallel", "parallel", "reduction"]} ins(%t, %w : tensor<4x8xf32>, tensor<8x16xf32>) outs(%acc : tensor<4x16xf32>) {
  ^bb0(%in: f32, %in_0: f32, %out: f32):
    %0 = arith.mulf %in, %in_0 : f32
    %1 = arith.addf %out, %0 : f32
    linalg.yield %1 : f32
  } -> tensor<4x16xf32>
  return %m : tensor<4x16xf32>
}

// The tanh reaches the matmul through a transpose (a generic that only moves
// elements: nn.MultiheadAttention's layer-normed input, viewed per head): the shield
// goes between the tanh and the transpose, so the transpose still folds into the
// matmul's maps and the tanh still stays out (it was fused in, through the transpose).
#t = affine_map<(d0, d1) -> (d1, d0)>
// CHECK-LABEL: func.func @tanh_transpose_matmul
// CHECK: %[[T:.*]] = linalg.generic
// CHECK: math.tanh
// CHECK: %[[S:.*]] = "mlirfuse.shield"(%[[T]])
// CHECK: linalg.generic {{.*}} ins(%[[S]], %{{.*}} :
// CHECK-NEXT: ^bb0
// CHECK-NEXT: arith.mulf
// CHECK-NEXT: arith.addf
// CHECK-NEXT: linalg.yield
// CHECK-NOT: linalg.generic
func.func @tanh_transpose_matmul(%x: tensor<8x4xf32>, %w: tensor<8x16xf32>, %acc: tensor<4x16xf32>) -> tensor<4x16xf32> {
  %e = tensor.empty() : tensor<8x4xf32>
  %t = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]} ins(%x : tensor<8x4xf32>) outs(%e : tensor<8x4xf32>) {
  ^bb0(%in: f32, %out: f32):
    %0 = math.tanh %in : f32
    linalg.yield %0 : f32
  } -> tensor<8x4xf32>
  %e2 = tensor.empty() : tensor<4x8xf32>
  %tt = linalg.generic {indexing_maps = [#t, #id], iterator_types = ["parallel", "parallel"]} ins(%t : tensor<8x4xf32>) outs(%e2 : tensor<4x8xf32>) {
  ^bb0(%in: f32, %out: f32):
    linalg.yield %in : f32
  } -> tensor<4x8xf32>
  %m = linalg.generic {indexing_maps = [#a, #b, #c], iterator_types = ["parallel", "parallel", "reduction"]} ins(%tt, %w : tensor<4x8xf32>, tensor<8x16xf32>) outs(%acc : tensor<4x16xf32>) {
  ^bb0(%in: f32, %in_0: f32, %out: f32):
    %0 = arith.mulf %in, %in_0 : f32
    %1 = arith.addf %out, %0 : f32
    linalg.yield %1 : f32
  } -> tensor<4x16xf32>
  return %m : tensor<4x16xf32>
}

// An im2col gather (mlirfuse-conv-to-gemm) feeding the matmul: fused in, it would make
// the matmul's map no projection, so no BLAS call. It is shielded like a computation.
#g = affine_map<(d0, d1) -> (d0 floordiv 2, d1 mod 4)>
// CHECK-LABEL: func.func @gather_then_matmul
// CHECK: %[[G:.*]] = linalg.generic
// CHECK: %[[S:.*]] = "mlirfuse.shield"(%[[G]])
// CHECK: linalg.generic {{.*}} ins(%[[S]], %{{.*}} :
// CHECK-NEXT: ^bb0
// CHECK-NEXT: arith.mulf
func.func @gather_then_matmul(%x: tensor<2x4xf32>, %w: tensor<8x16xf32>, %acc: tensor<4x16xf32>) -> tensor<4x16xf32> {
  %e = tensor.empty() : tensor<4x8xf32>
  %g = linalg.generic {indexing_maps = [#g, #id], iterator_types = ["parallel", "parallel"]} ins(%x : tensor<2x4xf32>) outs(%e : tensor<4x8xf32>) {
  ^bb0(%in: f32, %out: f32):
    linalg.yield %in : f32
  } -> tensor<4x8xf32>
  %m = linalg.generic {indexing_maps = [#a, #b, #c], iterator_types = ["parallel", "parallel", "reduction"]} ins(%g, %w : tensor<4x8xf32>, tensor<8x16xf32>) outs(%acc : tensor<4x16xf32>) {
  ^bb0(%in: f32, %in_0: f32, %out: f32):
    %0 = arith.mulf %in, %in_0 : f32
    %1 = arith.addf %out, %0 : f32
    linalg.yield %1 : f32
  } -> tensor<4x16xf32>
  return %m : tensor<4x16xf32>
}

// A symbolic batch, as torch-mlir lowers tanh(x) @ w for x of sizes (?, 8): the
// argument cast to tensor<?x8xf32>, the tanh and the zero-filled accumulator sized by
// tensor.dim. The shield goes between the tanh and the matmul, on the symbolic type,
// and the tanh stays out of the matmul's body as in @tanh_then_matmul.
// CHECK-LABEL: func.func @tanh_then_matmul_dynamic_batch
// CHECK: %[[T:.*]] = linalg.generic {{.*}} ins(%{{.*}} : tensor<?x8xf32>) outs(%{{.*}} : tensor<?x8xf32>)
// CHECK: math.tanh
// CHECK: %[[S:.*]] = "mlirfuse.shield"(%[[T]]) : (tensor<?x8xf32>) -> tensor<?x8xf32>
// CHECK: linalg.generic {{.*}} ins(%[[S]], %arg1 : tensor<?x8xf32>, tensor<8x16xf32>) outs(%{{.*}} : tensor<?x16xf32>)
// CHECK-NEXT: ^bb0
// CHECK-NEXT: arith.mulf
// CHECK-NEXT: arith.addf
// CHECK-NEXT: linalg.yield
// REMOVED-LABEL: func.func @tanh_then_matmul_dynamic_batch
// REMOVED-NOT: mlirfuse.shield
// REMOVED: %[[T:.*]] = linalg.generic {{.*}} outs(%{{.*}} : tensor<?x8xf32>)
// REMOVED: math.tanh
// REMOVED: linalg.generic {{.*}} ins(%[[T]], %arg1 : tensor<?x8xf32>, tensor<8x16xf32>)
func.func @tanh_then_matmul_dynamic_batch(%arg0: tensor<?x?xf32>, %w: tensor<8x16xf32>) -> tensor<?x16xf32> {
  %c0 = arith.constant 0 : index
  %cst = arith.constant 0.000000e+00 : f32
  %n = tensor.dim %arg0, %c0 : tensor<?x?xf32>
  %x = tensor.cast %arg0 : tensor<?x?xf32> to tensor<?x8xf32>
  %e = tensor.empty(%n) : tensor<?x8xf32>
  %t = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]} ins(%x : tensor<?x8xf32>) outs(%e : tensor<?x8xf32>) {
  ^bb0(%in: f32, %out: f32):
    %0 = math.tanh %in : f32
    linalg.yield %0 : f32
  } -> tensor<?x8xf32>
  %ea = tensor.empty(%n) : tensor<?x16xf32>
  %acc = linalg.fill ins(%cst : f32) outs(%ea : tensor<?x16xf32>) -> tensor<?x16xf32>
  %m = linalg.generic {indexing_maps = [#a, #b, #c], iterator_types = ["parallel", "parallel", "reduction"]} ins(%t, %w : tensor<?x8xf32>, tensor<8x16xf32>) outs(%acc : tensor<?x16xf32>) {
  ^bb0(%in: f32, %in_0: f32, %out: f32):
    %0 = arith.mulf %in, %in_0 : f32
    %1 = arith.addf %out, %0 : f32
    linalg.yield %1 : f32
  } -> tensor<?x16xf32>
  return %m : tensor<?x16xf32>
}

// torch's decomposition of a bf16 linear: both inputs extended to f32, an f32 matmul.
// With half=true (the GPU) the extensions fuse into the contraction, a sum of bf16
// products in f32 (a cuBLAS call on tensor cores), and the tanh computing x is still
// shielded. Without it, the extensions are shielded like any computing producer.
// CHECK-LABEL: func.func @widened_bf16_matmul
// CHECK-COUNT-2: mlirfuse.shield
// CHECK: linalg.generic {{.*}} ins(%{{.*}}, %{{.*}} : tensor<4x8xf32>, tensor<8x16xf32>)
// HALF-LABEL: func.func @widened_bf16_matmul
// HALF: %[[T:.*]] = linalg.generic
// HALF: math.tanh
// HALF: %[[S:.*]] = "mlirfuse.shield"(%[[T]])
// HALF-NOT: mlirfuse.shield
// HALF: linalg.generic {{.*}} ins(%[[S]], %arg1 : tensor<4x8xbf16>, tensor<8x16xbf16>) outs(%{{.*}} : tensor<4x16xf32>)
// HALF-NEXT: ^bb0
// HALF-NEXT: arith.extf
// HALF-NEXT: arith.extf
// HALF-NEXT: arith.mulf
// HALF-NEXT: arith.addf
func.func @widened_bf16_matmul(%x: tensor<4x8xbf16>, %w: tensor<8x16xbf16>) -> tensor<4x16xf32> {
  %cst = arith.constant 0.000000e+00 : f32
  %eh = tensor.empty() : tensor<4x8xbf16>
  %t = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]} ins(%x : tensor<4x8xbf16>) outs(%eh : tensor<4x8xbf16>) {
  ^bb0(%in: bf16, %out: bf16):
    %0 = math.tanh %in : bf16
    linalg.yield %0 : bf16
  } -> tensor<4x8xbf16>
  %ex = tensor.empty() : tensor<4x8xf32>
  %xf = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]} ins(%t : tensor<4x8xbf16>) outs(%ex : tensor<4x8xf32>) {
  ^bb0(%in: bf16, %out: f32):
    %0 = arith.extf %in : bf16 to f32
    linalg.yield %0 : f32
  } -> tensor<4x8xf32>
  %ew = tensor.empty() : tensor<8x16xf32>
  %wf = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]} ins(%w : tensor<8x16xbf16>) outs(%ew : tensor<8x16xf32>) {
  ^bb0(%in: bf16, %out: f32):
    %0 = arith.extf %in : bf16 to f32
    linalg.yield %0 : f32
  } -> tensor<8x16xf32>
  %ea = tensor.empty() : tensor<4x16xf32>
  %acc = linalg.fill ins(%cst : f32) outs(%ea : tensor<4x16xf32>) -> tensor<4x16xf32>
  %m = linalg.generic {indexing_maps = [#a, #b, #c], iterator_types = ["parallel", "parallel", "reduction"]} ins(%xf, %wf : tensor<4x8xf32>, tensor<8x16xf32>) outs(%acc : tensor<4x16xf32>) {
  ^bb0(%in: f32, %in_0: f32, %out: f32):
    %0 = arith.mulf %in, %in_0 : f32
    %1 = arith.addf %out, %0 : f32
    linalg.yield %1 : f32
  } -> tensor<4x16xf32>
  return %m : tensor<4x16xf32>
}
