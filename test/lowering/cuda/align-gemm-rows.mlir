// RUN: mlirfuse-opt %s --pass-pipeline='builtin.module(mlirfuse-align-gemm-rows)' | FileCheck %s
// RUN: mlirfuse-opt %s --pass-pipeline='builtin.module(mlirfuse-align-gemm-rows{enabled=false})' | FileCheck %s --check-prefix=OFF

#a = affine_map<(d0, d1, d2) -> (d0, d2)>
#b = affine_map<(d0, d1, d2) -> (d1, d2)>
#c = affine_map<(d0, d1, d2) -> (d0, d1)>
#id = affine_map<(d0, d1) -> (d0, d1)>

// An LM head in bf16: 1001 f32 columns (4004 bytes a row) are computed into 1004
// (4016: 16-byte rows for cuBLAS's tensor cores) and read through the [:, :1001] view;
// the rounding kernel reads that.
// CHECK-LABEL: func.func @lm_head
// CHECK: %[[WIDE:.*]] = tensor.empty() : tensor<64x1004xf32>
// CHECK: %[[VIEW:.*]] = tensor.extract_slice %[[WIDE]][0, 0] [64, 1001] [1, 1] : tensor<64x1004xf32> to tensor<64x1001xf32>
// CHECK: %[[ZERO:.*]] = linalg.fill ins(%{{.*}} : f32) outs(%[[VIEW]] : tensor<64x1001xf32>)
// CHECK: linalg.generic {{.*}} outs(%[[ZERO]] : tensor<64x1001xf32>)
// OFF-LABEL: func.func @lm_head
// OFF-NOT: tensor.extract_slice
// OFF: return
func.func @lm_head(%x: tensor<64x256xbf16>, %w: tensor<1001x256xbf16>) -> tensor<64x1001xbf16> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<64x1001xf32>
  %z = linalg.fill ins(%zero : f32) outs(%e : tensor<64x1001xf32>) -> tensor<64x1001xf32>
  %c = linalg.generic {indexing_maps = [#a, #b, #c], iterator_types = ["parallel", "parallel", "reduction"]} ins(%x, %w : tensor<64x256xbf16>, tensor<1001x256xbf16>) outs(%z : tensor<64x1001xf32>) {
  ^bb0(%in: bf16, %in_0: bf16, %out: f32):
    %0 = arith.extf %in : bf16 to f32
    %1 = arith.extf %in_0 : bf16 to f32
    %2 = arith.mulf %0, %1 : f32
    %3 = arith.addf %out, %2 : f32
    linalg.yield %3 : f32
  } -> tensor<64x1001xf32>
  %eh = tensor.empty() : tensor<64x1001xbf16>
  %r = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]} ins(%c : tensor<64x1001xf32>) outs(%eh : tensor<64x1001xbf16>) {
  ^bb0(%in: f32, %out: bf16):
    %0 = arith.truncf %in : f32 to bf16
    linalg.yield %0 : bf16
  } -> tensor<64x1001xbf16>
  return %r : tensor<64x1001xbf16>
}

// Rows already 16-byte aligned (1024 f32 columns), and a misaligned result that is the
// function's own (its destination buffer is the caller's): unchanged.
// CHECK-LABEL: func.func @aligned_or_returned
// CHECK-NOT: tensor.extract_slice
// CHECK: return
func.func @aligned_or_returned(%x: tensor<64x256xf32>, %w: tensor<1024x256xf32>, %v: tensor<1001x256xf32>) -> (tensor<64x1024xf32>, tensor<64x1001xf32>) {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<64x1024xf32>
  %z = linalg.fill ins(%zero : f32) outs(%e : tensor<64x1024xf32>) -> tensor<64x1024xf32>
  %c = linalg.generic {indexing_maps = [#a, #b, #c], iterator_types = ["parallel", "parallel", "reduction"]} ins(%x, %w : tensor<64x256xf32>, tensor<1024x256xf32>) outs(%z : tensor<64x1024xf32>) {
  ^bb0(%in: f32, %in_0: f32, %out: f32):
    %2 = arith.mulf %in, %in_0 : f32
    %3 = arith.addf %out, %2 : f32
    linalg.yield %3 : f32
  } -> tensor<64x1024xf32>
  %e2 = tensor.empty() : tensor<64x1001xf32>
  %z2 = linalg.fill ins(%zero : f32) outs(%e2 : tensor<64x1001xf32>) -> tensor<64x1001xf32>
  %d = linalg.generic {indexing_maps = [#a, #b, #c], iterator_types = ["parallel", "parallel", "reduction"]} ins(%x, %v : tensor<64x256xf32>, tensor<1001x256xf32>) outs(%z2 : tensor<64x1001xf32>) {
  ^bb0(%in: f32, %in_0: f32, %out: f32):
    %2 = arith.mulf %in, %in_0 : f32
    %3 = arith.addf %out, %2 : f32
    linalg.yield %3 : f32
  } -> tensor<64x1001xf32>
  return %c, %d : tensor<64x1024xf32>, tensor<64x1001xf32>
}
