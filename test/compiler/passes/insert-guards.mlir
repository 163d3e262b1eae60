// RUN: mlirfuse-opt %s --split-input-file --pass-pipeline='builtin.module(mlirfuse-insert-guards)' | FileCheck %s

// A guard per argument; strides from mlirfuse.example_strides when present
// (argument 0 was transposed), else contiguous; the layout goes to bufferization.
// CHECK-LABEL: func.func @main
// CHECK-SAME: %{{.*}}: tensor<4x8xf32> {bufferization.buffer_layout = strided<[1, 4]>, bufferization.writable = false}
// CHECK-SAME: %{{.*}}: tensor<4x8xf32> {bufferization.buffer_layout = affine_map<(d0, d1) -> (d0, d1)>, bufferization.writable = true}
// CHECK: "mlirfuse.guard"(%arg0) {arg = 0 : i64, sizes = array<i64: 4, 8>, strides = array<i64: 1, 4>}
// CHECK: "mlirfuse.guard"(%arg1) {arg = 1 : i64, sizes = array<i64: 4, 8>, strides = array<i64: 8, 1>}
func.func @main(%a: tensor<4x8xf32> {bufferization.writable = false}, %out: tensor<4x8xf32> {bufferization.writable = true}) -> tensor<4x8xf32> attributes {mlirfuse.abi, mlirfuse.example_strides = [array<i64: 1, 4>]} {
  %0 = bufferization.materialize_in_destination %a in %out : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  return %0 : tensor<4x8xf32>
}

// -----

// Size-1 dimensions: their strides never move an address and are written contiguous.
// CHECK-LABEL: func.func @unit_dim
// CHECK: "mlirfuse.guard"(%arg0) {arg = 0 : i64, sizes = array<i64: 1, 8>, strides = array<i64: 8, 1>}
func.func @unit_dim(%a: tensor<1x8xf32>) attributes {mlirfuse.abi, mlirfuse.example_strides = [array<i64: 77, 1>]} {
  return
}

// -----

// Functions outside the runtime's calling convention are not guarded.
// CHECK-LABEL: func.func @other
// CHECK-NOT: mlirfuse.guard
func.func @other(%a: tensor<4xf32>) {
  return
}

// -----

// Dynamic sizes: -1 in the guard, with the symbol of each dimension
// (mlirfuse.example_symbols; a result's dimension has none: -1, unchecked), strides
// -1 (contiguous at run time) and the identity layout.
// CHECK-LABEL: func.func @dynamic
// CHECK-SAME: %{{.*}}: tensor<?x8xf32> {bufferization.buffer_layout = affine_map<(d0, d1) -> (d0, d1)>}
// CHECK: "mlirfuse.guard"(%arg0) {arg = 0 : i64, sizes = array<i64: -1, 8>, strides = array<i64: -1, -1>, symbols = array<i64: 0, -1>}
// CHECK: "mlirfuse.guard"(%arg1) {arg = 1 : i64, sizes = array<i64: 3, -1>, strides = array<i64: -1, -1>, symbols = array<i64: -1, 0>}
// CHECK: "mlirfuse.guard"(%arg2) {arg = 2 : i64, sizes = array<i64: -1>, strides = array<i64: -1>, symbols = array<i64: -1>}
func.func @dynamic(%a: tensor<?x8xf32>, %b: tensor<3x?xf32>, %out: tensor<?xf32>) attributes {mlirfuse.abi, mlirfuse.example_symbols = [array<i64: 0, -1>, array<i64: -1, 0>], mlirfuse.symbol_ranges = array<i64: 2, -1>} {
  return
}

