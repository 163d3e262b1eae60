// RUN: not mlirfuse-opt %s --pass-pipeline='builtin.module(mlirfuse-destination-style-abi)' 2>&1 | FileCheck %s

// An unranked result cannot be allocated by the caller: the pass fails with a located error.
// CHECK: destination-style-abi-invalid.mlir:[[@LINE+1]]:1: error: mlirfuse-destination-style-abi: entry function arguments and results must be ranked tensors
func.func @main(%a: tensor<*xf32>) -> tensor<*xf32> {
  return %a : tensor<*xf32>
}
