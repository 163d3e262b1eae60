// The mlir-opt options mlirfuse-opt supports.

// Stdin in, -o out; the pipeline mixes an mlirfuse pass with upstream ones.
// RUN: cat %S/Inputs/add.mlir | mlirfuse-opt - --pass-pipeline='builtin.module(mlirfuse-destination-style-abi, func.func(cse))' -o %t.mlir
// RUN: FileCheck %s --check-prefix=OUT < %t.mlir
// OUT: bufferization.materialize_in_destination

// --dump-pass-pipeline prints what runs, every option spelled out.
// RUN: mlirfuse-opt %S/Inputs/add.mlir --pass-pipeline='builtin.module(mlirfuse-destination-style-abi, canonicalize)' --dump-pass-pipeline 2>&1 >/dev/null | FileCheck %s --check-prefix=DUMP
// DUMP: builtin.module(mlirfuse-destination-style-abi,canonicalize{{{.*}}max-iterations=10{{.*}}})

// --mlir-print-ir-after-all names our Python passes like any other.
// RUN: mlirfuse-opt %S/Inputs/add.mlir --pass-pipeline='builtin.module(mlirfuse-destination-style-abi, cse)' --mlir-print-ir-after-all 2>&1 >/dev/null | FileCheck %s --check-prefix=AFTER
// AFTER: IR Dump After DestinationStyleAbi: mlirfuse-destination-style-abi
// AFTER: IR Dump After CSEPass: cse

// --list-passes: ours first, then upstream and torch-mlir passes.
// RUN: mlirfuse-opt --list-passes | FileCheck %s --check-prefix=LIST
// LIST: mlirfuse passes:
// LIST: --mlirfuse-conv-to-gemm{{ +}}[cpu]
// LIST: --mlirfuse-destination-style-abi{{ +}}[every target]{{ +}}- Results become
// LIST: --mlirfuse-map-to-gpu{{ +}}[cuda]
// LIST: upstream and torch-mlir passes:
// LIST-DAG: --one-shot-bufferize
// LIST-DAG: --convert-torch-to-linalg
// LIST-DAG: --linalg-fuse-elementwise-ops

// --split-input-file: pieces are processed on their own and printed with separators.
// RUN: mlirfuse-opt %s --split-input-file | FileCheck %s --check-prefix=SPLIT
// SPLIT: func.func @first
// SPLIT: // -----
// SPLIT: func.func @second
func.func @first() {
  return
}
// -----
func.func @second() {
  return
}
