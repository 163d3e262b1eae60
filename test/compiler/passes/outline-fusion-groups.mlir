// RUN: mlirfuse-opt %s --split-input-file --pass-pipeline='builtin.module(mlirfuse-outline-fusion-groups)' | FileCheck %s

// Each group becomes a private kernel function and a call; the body moves as it is.
// CHECK-LABEL: func.func @main
// CHECK-SAME: (%[[A:.*]]: tensor<4xf32>, %[[B:.*]]: tensor<4xi32>)
// CHECK: %[[R:.*]]:2 = call @kernel_0(%[[A]], %[[B]]) : (tensor<4xf32>, tensor<4xi32>) -> (tensor<4xf32>, tensor<4xi32>)
// CHECK-NOT: mlirfuse.group
// CHECK: return %[[R]]#0, %[[R]]#1
// CHECK: func.func private @kernel_0(%[[X:.*]]: tensor<4xf32>, %[[Y:.*]]: tensor<4xi32>) -> (tensor<4xf32>, tensor<4xi32>) attributes {mlirfuse.kernel}
// CHECK: %[[S:.*]] = arith.addf %[[X]], %[[X]]
// CHECK: return %[[S]], %[[Y]]
func.func @main(%a: tensor<4xf32>, %b: tensor<4xi32>) -> (tensor<4xf32>, tensor<4xi32>) {
  %r:2 = "mlirfuse.group"(%a, %b) ({
  ^bb0(%x: tensor<4xf32>, %y: tensor<4xi32>):
    %s = arith.addf %x, %x : tensor<4xf32>
    gpu.yield %s, %y : tensor<4xf32>, tensor<4xi32>
  }) {kernel = "kernel_0", operandSegmentSizes = array<i32: 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>, resultSegmentSizes = array<i32: 1, 1, 0, 0, 0, 0, 0, 0>} : (tensor<4xf32>, tensor<4xi32>) -> (tensor<4xf32>, tensor<4xi32>)
  return %r#0, %r#1 : tensor<4xf32>, tensor<4xi32>
}

// -----

// A group on dynamic sizes takes the size its tensor.empty needs as an index operand:
// the kernel function takes it as an argument like any other.
// CHECK-LABEL: func.func @dynamic
// CHECK: %[[N:.*]] = tensor.dim %{{.*}}, %c0
// CHECK: call @kernel_1(%{{.*}}, %[[N]]) : (tensor<?xf32>, index) -> tensor<?xf32>
// CHECK: func.func private @kernel_1(%[[X:.*]]: tensor<?xf32>, %[[S:.*]]: index) -> tensor<?xf32> attributes {mlirfuse.kernel}
// CHECK: tensor.empty(%[[S]]) : tensor<?xf32>
func.func @dynamic(%a: tensor<?xf32>) -> tensor<?xf32> {
  %c0 = arith.constant 0 : index
  %n = tensor.dim %a, %c0 : tensor<?xf32>
  %r = "mlirfuse.group"(%a, %n) ({
  ^bb0(%x: tensor<?xf32>, %size: index):
    %e = tensor.empty(%size) : tensor<?xf32>
    %s = linalg.copy ins(%x : tensor<?xf32>) outs(%e : tensor<?xf32>) -> tensor<?xf32>
    gpu.yield %s : tensor<?xf32>
  }) {kernel = "kernel_1", operandSegmentSizes = array<i32: 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>, resultSegmentSizes = array<i32: 1, 0, 0, 0, 0, 0, 0, 0>} : (tensor<?xf32>, index) -> tensor<?xf32>
  return %r : tensor<?xf32>
}
