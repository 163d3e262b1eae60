// RUN: mlirfuse-opt %s --pass-pipeline='builtin.module(mlirfuse-verify-backend-contract)' | FileCheck %s

// Extern calls pass the check (upstream's rejects them) and nothing is rewritten.
// CHECK-LABEL: func.func private @mlirfuse_extern_op_0
// CHECK-LABEL: func.func @main
// CHECK: %[[R:.*]] = call @mlirfuse_extern_op_0(%{{.*}})
// CHECK: linalg.generic
func.func private @mlirfuse_extern_op_0(tensor<4xf32>) -> tensor<4xf32> attributes {mlirfuse.extern = "op aten::sort"}
func.func @main(%a: tensor<4xf32>) -> tensor<4xf32> {
  %0 = call @mlirfuse_extern_op_0(%a) : (tensor<4xf32>) -> tensor<4xf32>
  %e = tensor.empty() : tensor<4xf32>
  %1 = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]} ins(%0 : tensor<4xf32>) outs(%e : tensor<4xf32>) {
  ^bb0(%in: f32, %out: f32):
    %2 = arith.addf %in, %in : f32
    linalg.yield %2 : f32
  } -> tensor<4xf32>
  return %1 : tensor<4xf32>
}
