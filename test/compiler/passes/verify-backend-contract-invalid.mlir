// RUN: not mlirfuse-opt %s --pass-pipeline='builtin.module(mlirfuse-verify-backend-contract)' 2>&1 | FileCheck %s

// Anything else upstream's check rejects is still rejected: a torch op left over.
// CHECK: error: mlirfuse-verify-backend-contract: failed to legalize operation 'func.func'
func.func @main(%a: !torch.vtensor<[4],f32>) -> !torch.vtensor<[4],f32> {
  return %a : !torch.vtensor<[4],f32>
}
