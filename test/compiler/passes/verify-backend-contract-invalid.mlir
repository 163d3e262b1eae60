// RUN: not mlirfuse-opt %s --split-input-file --pass-pipeline='builtin.module(mlirfuse-verify-backend-contract)' 2>&1 | FileCheck %s

// Anything else upstream's check rejects is still rejected: a torch op left over.
// CHECK: verify-backend-contract-invalid.mlir:[[@LINE+1]]:1: error: mlirfuse-verify-backend-contract: failed to legalize operation 'func.func'
func.func @main(%a: !torch.vtensor<[4],f32>) -> !torch.vtensor<[4],f32> {
  return %a : !torch.vtensor<[4],f32>
}

// -----

// ...also beside an extern call (the check runs on a copy without the calls), at the op.
// CHECK: verify-backend-contract-invalid.mlir:[[@LINE+3]]:8: error: mlirfuse-verify-backend-contract: failed to legalize operation 'torch_c.from_builtin_tensor'
func.func private @mlirfuse_extern_op_0(tensor<4xf32>) -> tensor<4xf32> attributes {mlirfuse.extern = "op aten::sort"}
func.func @main(%a: tensor<4xf32>) -> tensor<4xf32> {
  %0 = call @mlirfuse_extern_op_0(%a) : (tensor<4xf32>) -> tensor<4xf32>
  %1 = torch_c.from_builtin_tensor %0 : tensor<4xf32> -> !torch.vtensor<[4],f32>
  %2 = torch.aten.tanh %1 : !torch.vtensor<[4],f32> -> !torch.vtensor<[4],f32>
  %3 = torch_c.to_builtin_tensor %2 : !torch.vtensor<[4],f32> -> tensor<4xf32>
  return %3 : tensor<4xf32>
}
