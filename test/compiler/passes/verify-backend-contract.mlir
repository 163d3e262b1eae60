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

// An extern call with a symbolic result (a batch `?`), its size read by tensor.dim: it
// passes the check too (its placeholder on the checked copy is given a size), and the
// module is not rewritten: the call and its tensor.dim stay, no placeholder shows.
// CHECK-LABEL: func.func private @mlirfuse_extern_op_1
// CHECK-LABEL: func.func @symbolic
// CHECK-NOT: tensor.empty
// CHECK: %[[R:.*]] = call @mlirfuse_extern_op_1(%{{.*}}) : (tensor<?x512xf32>) -> tensor<?x512xf32>
// CHECK: %[[N:.*]] = tensor.dim %[[R]], %{{.*}} : tensor<?x512xf32>
// CHECK: tensor.empty(%[[N]]) : tensor<?x512xf32>
// CHECK: linalg.generic {{.*}} ins(%[[R]] : tensor<?x512xf32>)
func.func private @mlirfuse_extern_op_1(tensor<?x512xf32>) -> tensor<?x512xf32> attributes {mlirfuse.extern = "op aten::sort"}
func.func @symbolic(%a: tensor<?x512xf32>) -> tensor<?x512xf32> {
  %0 = call @mlirfuse_extern_op_1(%a) : (tensor<?x512xf32>) -> tensor<?x512xf32>
  %c0 = arith.constant 0 : index
  %n = tensor.dim %0, %c0 : tensor<?x512xf32>
  %e = tensor.empty(%n) : tensor<?x512xf32>
  %1 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%0 : tensor<?x512xf32>) outs(%e : tensor<?x512xf32>) {
  ^bb0(%in: f32, %out: f32):
    %2 = arith.addf %in, %in : f32
    linalg.yield %2 : f32
  } -> tensor<?x512xf32>
  return %1 : tensor<?x512xf32>
}
