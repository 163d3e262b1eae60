// RUN: env MLIRFUSE_CUDA_HALF_GEMM=1 mlirfuse-opt %s --pass-pipeline='builtin.module(mlirfuse-library-gemm{target=cuda})' | FileCheck %s
// RUN: env MLIRFUSE_CUDA_HALF_GEMM=1 mlirfuse-opt %s --pass-pipeline='builtin.module(mlirfuse-library-gemm)' | FileCheck %s --check-prefix=CPU
// RUN: env MLIRFUSE_CUDA_HALF_GEMM=0 mlirfuse-opt %s --pass-pipeline='builtin.module(mlirfuse-library-gemm{target=cuda})' | FileCheck %s --check-prefix=OFF

#a = affine_map<(d0, d1, d2) -> (d0, d2)>
#b = affine_map<(d0, d1, d2) -> (d1, d2)>
#c = affine_map<(d0, d1, d2) -> (d0, d1)>

// A bf16 linear as torch-mlir lowers it: bf16 inputs extended and summed into an f32
// result (the rounding to bf16 is an op after it). On CUDA one cuBLAS call of dtype 5
// (bf16 inputs, f32 C: tensor cores, f32 accumulation), the fill gone. The CPU's BLAS
// takes no bf16: the contraction stays. Before: generated code on both (GPT-2 124M in
// bf16, 1.1 s a call on the H200).
// CHECK-LABEL: func.func @bf16_linear
// CHECK-NOT: linalg.fill
// CHECK-DAG: %[[BF16_F32:.*]] = arith.constant 5 : i32
// CHECK-DAG: %[[M:.*]] = arith.constant 64 : i64
// CHECK-DAG: %[[N:.*]] = arith.constant 512 : i64
// CHECK-DAG: %[[K:.*]] = arith.constant 256 : i64
// CHECK: call @mlirfuse_gemm(%[[BF16_F32]], %{{.*}}, %[[M]], %[[N]], %[[K]],
// CHECK-NOT: linalg.generic
// CPU-LABEL: func.func @bf16_linear
// CPU-NOT: call
// CPU: linalg.generic
// OFF-LABEL: func.func @bf16_linear
// OFF-NOT: call
// OFF: linalg.generic
func.func @bf16_linear(%x: memref<64x256xbf16>, %w: memref<512x256xbf16>, %y: memref<64x512xf32>) attributes {mlirfuse.abi} {
  %zero = arith.constant 0.0 : f32
  linalg.fill ins(%zero : f32) outs(%y : memref<64x512xf32>)
  linalg.generic {indexing_maps = [#a, #b, #c], iterator_types = ["parallel", "parallel", "reduction"]} ins(%x, %w : memref<64x256xbf16>, memref<512x256xbf16>) outs(%y : memref<64x512xf32>) {
  ^bb0(%p: bf16, %q: bf16, %o: f32):
    %p32 = arith.extf %p : bf16 to f32
    %q32 = arith.extf %q : bf16 to f32
    %1 = arith.mulf %p32, %q32 : f32
    %2 = arith.addf %o, %1 : f32
    linalg.yield %2 : f32
  }
  return
}

// f16 inputs: dtype 4. Mixed input types (f16 and bf16) are no cuBLAS type: unchanged.
// CHECK-LABEL: func.func @f16_matmul
// CHECK: %[[F16_F32:.*]] = arith.constant 4 : i32
// CHECK: call @mlirfuse_gemm(%[[F16_F32]],
// CHECK-LABEL: func.func @mixed_inputs
// CHECK-NOT: call
// CHECK: linalg.generic
func.func @f16_matmul(%x: memref<16x32xf16>, %w: memref<32x8xf16>, %y: memref<16x8xf32>) attributes {mlirfuse.abi} {
  linalg.generic {indexing_maps = [#a, affine_map<(d0, d1, d2) -> (d2, d1)>, #c], iterator_types = ["parallel", "parallel", "reduction"]} ins(%x, %w : memref<16x32xf16>, memref<32x8xf16>) outs(%y : memref<16x8xf32>) {
  ^bb0(%p: f16, %q: f16, %o: f32):
    %p32 = arith.extf %p : f16 to f32
    %q32 = arith.extf %q : f16 to f32
    %1 = arith.mulf %p32, %q32 : f32
    %2 = arith.addf %o, %1 : f32
    linalg.yield %2 : f32
  }
  return
}

func.func @mixed_inputs(%x: memref<16x32xf16>, %w: memref<32x8xbf16>, %y: memref<16x8xf32>) attributes {mlirfuse.abi} {
  linalg.generic {indexing_maps = [#a, affine_map<(d0, d1, d2) -> (d2, d1)>, #c], iterator_types = ["parallel", "parallel", "reduction"]} ins(%x, %w : memref<16x32xf16>, memref<32x8xbf16>) outs(%y : memref<16x8xf32>) {
  ^bb0(%p: f16, %q: bf16, %o: f32):
    %p32 = arith.extf %p : f16 to f32
    %q32 = arith.extf %q : bf16 to f32
    %1 = arith.mulf %p32, %q32 : f32
    %2 = arith.addf %o, %1 : f32
    linalg.yield %2 : f32
  }
  return
}
