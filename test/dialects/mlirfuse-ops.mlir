// The mlirfuse dialect's ops print and parse (generic form, as IRDL ops do).
// RUN: mlirfuse-opt %s | mlirfuse-opt | FileCheck %s

// CHECK-LABEL: func.func @ops
// CHECK: "mlirfuse.guard"(%{{.*}}) {arg = 0 : i64, sizes = array<i64: 4, 8>, strides = array<i64: 8, 1>} : (tensor<4x8xf32>) -> ()
// CHECK: %[[G:.*]]:2 = "mlirfuse.group"(%{{.*}}, %{{.*}}) ({
// CHECK: ^bb0(%{{.*}}: tensor<4x8xf32>, %{{.*}}: tensor<8xi32>):
// CHECK: gpu.yield %{{.*}}, %{{.*}} : tensor<4x8xf32>, tensor<8xi32>
// CHECK: }) {kernel = "kernel_0", operandSegmentSizes = array<i32: 1, 1, 0, {{.*}}>, resultSegmentSizes = array<i32: 1, 1, 0, 0, 0, 0, 0, 0>}
func.func @ops(%a: tensor<4x8xf32>, %b: tensor<8xi32>) -> (tensor<4x8xf32>, tensor<8xi32>) {
  "mlirfuse.guard"(%a) {arg = 0 : i64, sizes = array<i64: 4, 8>, strides = array<i64: 8, 1>} : (tensor<4x8xf32>) -> ()
  %r:2 = "mlirfuse.group"(%a, %b) ({
  ^bb0(%x: tensor<4x8xf32>, %y: tensor<8xi32>):
    %s = arith.addf %x, %x : tensor<4x8xf32>
    gpu.yield %s, %y : tensor<4x8xf32>, tensor<8xi32>
  }) {kernel = "kernel_0", operandSegmentSizes = array<i32: 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>, resultSegmentSizes = array<i32: 1, 1, 0, 0, 0, 0, 0, 0>} : (tensor<4x8xf32>, tensor<8xi32>) -> (tensor<4x8xf32>, tensor<8xi32>)
  return %r#0, %r#1 : tensor<4x8xf32>, tensor<8xi32>
}
