// RUN: mlirfuse-opt %s --split-input-file --pass-pipeline='builtin.module(mlirfuse-destination-style-abi)' | FileCheck %s

// Results become destination arguments; inputs are read-only; C interface.
// CHECK-LABEL: func.func @main
// CHECK-SAME: (%[[A:arg[0-9]+]]: tensor<4xf32> {bufferization.writable = false}, %[[OUT:arg[0-9]+]]: tensor<4xf32> {bufferization.writable = true}) -> tensor<4xf32>
// CHECK-SAME: attributes {llvm.emit_c_interface, mlirfuse.abi}
// CHECK: %[[R:.*]] = arith.addf %[[A]], %[[A]]
// CHECK: %[[M:.*]] = bufferization.materialize_in_destination %[[R]] in %[[OUT]]
// CHECK: return %[[M]]
func.func @main(%a: tensor<4xf32>) -> tensor<4xf32> {
  %0 = arith.addf %a, %a : tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

// Two results, one of them an input: each gets its own destination.
// CHECK-LABEL: func.func @two
// CHECK-SAME: %{{arg[0-9]+}}: tensor<f32> {bufferization.writable = false}, %[[O1:arg[0-9]+]]: tensor<2xi64> {bufferization.writable = true}, %[[O2:arg[0-9]+]]: tensor<f32> {bufferization.writable = true}
// CHECK: bufferization.materialize_in_destination %{{.*}} in %[[O1]]
// CHECK: bufferization.materialize_in_destination %{{.*}} in %[[O2]]
func.func @two(%a: tensor<2xi64>, %b: tensor<f32>) -> (tensor<2xi64>, tensor<f32>) {
  return %a, %b : tensor<2xi64>, tensor<f32>
}

// -----

// Private functions are left alone.
// CHECK-LABEL: func.func private @helper
// CHECK-SAME: (%{{.*}}: tensor<4xf32>) -> tensor<4xf32> {
// CHECK-NOT: materialize_in_destination
func.func private @helper(%a: tensor<4xf32>) -> tensor<4xf32> {
  return %a : tensor<4xf32>
}

// -----

// A symbolic batch (torch.export's dynamic dimension): the destination has the result's
// type, `?` included (the runtime allocates it at the size of this call), and the
// sizes are still read off the input, not the destination.
// CHECK-LABEL: func.func @symbolic
// CHECK-SAME: (%[[A:arg[0-9]+]]: tensor<?x512xf32> {bufferization.writable = false}, %{{arg[0-9]+}}: tensor<512xf32> {bufferization.writable = false}, %[[OUT:arg[0-9]+]]: tensor<?x512xf32> {bufferization.writable = true}) -> tensor<?x512xf32>
// CHECK-SAME: attributes {llvm.emit_c_interface, mlirfuse.abi}
// CHECK: %[[N:.*]] = tensor.dim %[[A]], %{{.*}} : tensor<?x512xf32>
// CHECK: tensor.empty(%[[N]]) : tensor<?x512xf32>
// CHECK: %[[R:.*]] = linalg.generic
// CHECK: %[[M:.*]] = bufferization.materialize_in_destination %[[R]] in %[[OUT]] : (tensor<?x512xf32>, tensor<?x512xf32>) -> tensor<?x512xf32>
// CHECK: return %[[M]] : tensor<?x512xf32>
func.func @symbolic(%a: tensor<?x512xf32>, %b: tensor<512xf32>) -> tensor<?x512xf32> {
  %c0 = arith.constant 0 : index
  %n = tensor.dim %a, %c0 : tensor<?x512xf32>
  %e = tensor.empty(%n) : tensor<?x512xf32>
  %0 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%a, %b : tensor<?x512xf32>, tensor<512xf32>) outs(%e : tensor<?x512xf32>) {
  ^bb0(%x: f32, %y: f32, %o: f32):
    %s = arith.addf %x, %y : f32
    linalg.yield %s : f32
  } -> tensor<?x512xf32>
  return %0 : tensor<?x512xf32>
}
