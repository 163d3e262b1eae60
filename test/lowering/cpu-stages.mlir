// The CPU pipelines of lowering/pipelines.py, stage by stage, on linalg on tensors.
// DEFINE: %{bufferize} = func.func(refback-generalize-tensor-pad, refback-generalize-tensor-concat), mlirfuse-destination-style-abi, eliminate-empty-tensors, one-shot-bufferize{allow-unknown-ops bufferize-function-boundaries function-boundary-type-conversion=fully-dynamic-layout-map}, func.func(tm-tensor-bufferize), refback-mlprogram-bufferize, canonicalize, mlirfuse-drop-destination-results, buffer-deallocation-pipeline
// DEFINE: %{loops} = func.func(tm-tensor-to-loops, refback-munge-memref-copy, convert-linalg-to-loops, lower-affine)
// DEFINE: %{llvm} = convert-scf-to-cf, func.func(refback-expand-ops-for-llvm, arith-expand{include-bf16=true}), convert-math-to-llvm, convert-math-to-libm, expand-strided-metadata, convert-bufferization-to-memref, finalize-memref-to-llvm, lower-affine, convert-arith-to-llvm, convert-func-to-llvm, convert-cf-to-llvm, convert-ub-to-llvm, reconcile-unrealized-casts
// RUN: mlirfuse-opt %s --pass-pipeline="builtin.module(%{bufferize})" | FileCheck %s --check-prefix=BUF
// RUN: mlirfuse-opt %s --pass-pipeline="builtin.module(%{bufferize}, %{loops}, %{llvm})" | FileCheck %s --check-prefix=LLVM

#map = affine_map<(d0, d1) -> (d0, d1)>
#map1 = affine_map<(d0, d1) -> (d1)>

// The last op writes straight into the caller's output; inputs take any strides.
// BUF-LABEL: func.func @main
// BUF-SAME: (%[[X:arg0]]: memref<4x8xf32, strided<[?, ?], offset: ?>>, %[[B:arg1]]: memref<8xf32, strided<[?], offset: ?>>, %[[OUT:arg2]]: memref<4x8xf32, strided<[?, ?], offset: ?>>)
// BUF-NOT: -> memref
// BUF: linalg.generic
// BUF-SAME: outs(%[[OUT]] :
// BUF: return{{$}}

// LLVM-LABEL: llvm.func @main
// LLVM: llvm.func @_mlir_ciface_main(%{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr)
// LLVM-NOT: unrealized_conversion_cast
func.func @main(%x: tensor<4x8xf32>, %b: tensor<8xf32>) -> tensor<4x8xf32> {
  %cst = arith.constant 0.000000e+00 : f32
  %0 = tensor.empty() : tensor<4x8xf32>
  %1 = linalg.generic {indexing_maps = [#map, #map1, #map], iterator_types = ["parallel", "parallel"]} ins(%x, %b : tensor<4x8xf32>, tensor<8xf32>) outs(%0 : tensor<4x8xf32>) {
  ^bb0(%in: f32, %in_0: f32, %out: f32):
    %2 = arith.addf %in, %in_0 : f32
    %3 = arith.maximumf %2, %cst : f32
    linalg.yield %3 : f32
  } -> tensor<4x8xf32>
  return %1 : tensor<4x8xf32>
}
