// RUN: not mlirfuse-opt %s --pass-pipeline='builtin.module(mlirfuse-drop-destination-results)' 2>&1 | FileCheck %s

// Returning anything but the destination would leak it: an error at the return.
// CHECK: drop-destination-results-invalid.mlir:[[@LINE+3]]:3: error: mlirfuse-drop-destination-results: entry function returns a buffer other than its destination
func.func @leak(%a: memref<4xf32>, %out: memref<4xf32>) -> memref<4xf32> attributes {mlirfuse.abi} {
  %0 = memref.alloc() : memref<4xf32>
  return %0 : memref<4xf32>
}
