// Bad input gives MLIR's diagnostic with file:line:col, exit status 1, and no Python traceback.

// RUN: not mlirfuse-opt %s 2>&1 | FileCheck %s --check-prefix=PARSE
// PARSE: opt-errors.mlir:[[@LINE+3]]:{{[0-9]+}}: error: use of undeclared SSA value name
// PARSE-NOT: Traceback
func.func @f(%a: tensor<4xf32>) -> tensor<4xf32> {
  %0 = arith.addf %a, %undefined : tensor<4xf32>
  return %0 : tensor<4xf32>
}

// RUN: not mlirfuse-opt %S/Inputs/add.mlir --pass-pipeline='builtin.module(no-such-pass)' 2>&1 | FileCheck %s --check-prefix=UNKNOWN
// UNKNOWN: add.mlir: error: {{.*}}'no-such-pass' does not refer to a registered pass or pass pipeline
// UNKNOWN-NOT: Traceback

// RUN: not mlirfuse-opt %S/Inputs/add.mlir --pass-pipeline='builtin.module(mlirfuse-no-such-pass)' 2>&1 | FileCheck %s --check-prefix=UNKNOWN-OWN
// UNKNOWN-OWN: error: 'mlirfuse-no-such-pass' does not refer to a registered pass or pass pipeline

// A failing pass: torch-mlir cannot lower fft to linalg; the error is located.
// RUN: not mlirfuse-opt %S/Inputs/fft.mlir --pass-pipeline='builtin.module(torch-backend-to-linalg-on-tensors-backend-pipeline)' 2>&1 | FileCheck %s --check-prefix=FAIL
// FAIL: fft.mlir:{{[0-9]+}}:{{[0-9]+}}: error: failed to legalize operation
// FAIL-NOT: Traceback

// RUN: not mlirfuse-opt %S/Inputs/does-not-exist.mlir 2>&1 | FileCheck %s --check-prefix=MISSING
// MISSING: mlirfuse-opt: cannot read {{.*}}does-not-exist.mlir
