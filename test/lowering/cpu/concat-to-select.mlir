// RUN: mlirfuse-opt %s --pass-pipeline='builtin.module(mlirfuse-concat-to-select)' | FileCheck %s

// Rows: each piece is padded with zeros to the result's shape at its offset, and one
// generic picks the piece that owns a row by the row's index.
// CHECK-LABEL: func.func @rows
// CHECK-DAG:     %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK:         %[[PA:.*]] = tensor.pad %arg0 low[0, 0] high[2, 0]
// CHECK:           tensor.yield %[[ZERO]]
// CHECK:         %[[PB:.*]] = tensor.pad %arg1 low[4, 0] high[0, 0]
// CHECK:         linalg.generic {{.*}} ins(%[[PA]], %[[PB]] : tensor<6x8xf32>, tensor<6x8xf32>)
// CHECK:           %[[I:.*]] = linalg.index 0
// CHECK:           %[[IN_A:.*]] = arith.cmpi ult, %[[I]], %c4
// CHECK:           arith.select %[[IN_A]], %in, %in_
// CHECK-NOT:     tensor.concat
func.func @rows(%a: tensor<4x8xf32>, %b: tensor<2x8xf32>) -> tensor<6x8xf32> {
  %r = tensor.concat dim(0) %a, %b : (tensor<4x8xf32>, tensor<2x8xf32>) -> tensor<6x8xf32>
  return %r : tensor<6x8xf32>
}

// Columns of integers: integer zeros, the index of dimension 1.
// CHECK-LABEL: func.func @columns
// CHECK:         tensor.pad %arg0 low[0, 0] high[0, 5]
// CHECK:           tensor.yield %c0_i32
// CHECK:         tensor.pad %arg1 low[0, 3] high[0, 0]
// CHECK:         linalg.index 1
// CHECK:         arith.cmpi ult, %{{.*}}, %c3
func.func @columns(%a: tensor<4x3xi32>, %b: tensor<4x5xi32>) -> tensor<4x8xi32> {
  %r = tensor.concat dim(1) %a, %b : (tensor<4x3xi32>, tensor<4x5xi32>) -> tensor<4x8xi32>
  return %r : tensor<4x8xi32>
}

// A dynamic result shape is left alone.
// CHECK-LABEL: func.func @dynamic
// CHECK:         tensor.concat dim(0)
// CHECK-NOT:     linalg.generic
func.func @dynamic(%a: tensor<?x8xf32>, %b: tensor<2x8xf32>) -> tensor<?x8xf32> {
  %r = tensor.concat dim(0) %a, %b : (tensor<?x8xf32>, tensor<2x8xf32>) -> tensor<?x8xf32>
  return %r : tensor<?x8xf32>
}
