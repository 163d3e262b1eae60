// RUN: not mlirfuse-opt %s --pass-pipeline='builtin.module(mlirfuse-insert-guards)' 2>&1 | FileCheck %s

// A symbol on a static dimension: the driver's record does not match the type.
// CHECK: insert-guards-invalid.mlir:[[@LINE+1]]:1: error: mlirfuse-insert-guards: argument 0: mlirfuse.example_symbols does not match its type
func.func @mismatch(%a: tensor<4x?xf32>) attributes {mlirfuse.abi, mlirfuse.example_symbols = [array<i64: 0, 1>]} {
  return
}
