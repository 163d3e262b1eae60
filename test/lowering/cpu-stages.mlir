// The compile's own CPU stage pipelines (lowering/stages.py, run by --stages), on
// linalg on tensors as torch-mlir emits it.
// RUN: mlirfuse-opt %s --stages fused,guarded,kernels,bufferized | FileCheck %s --check-prefix=BUF
// RUN: mlirfuse-opt %s --stages fused,guarded,kernels,bufferized,loops,llvm | FileCheck %s --check-prefix=LLVM
// RUN: not mlirfuse-opt %s --stages fused,nope 2>&1 | FileCheck %s --check-prefix=BAD

#map = affine_map<(d0, d1) -> (d0, d1)>
#map1 = affine_map<(d0, d1) -> (d1)>

// Arguments arrive fully dynamic and are checked; inside the guard the kernel (one
// parallel loop over rows, later OpenMP's) writes straight into the caller's output;
// the status is returned.
// BUF-LABEL: func.func @main
// BUF-SAME: (%[[X:arg0]]: memref<?x?xf32, strided<[?, ?], offset: ?>>, %[[B:arg1]]: memref<?xf32, strided<[?], offset: ?>>, %[[OUT:arg2]]: memref<?x?xf32, strided<[?, ?], offset: ?>>) -> i32
// BUF: memref.extract_strided_metadata
// BUF: scf.if
// BUF: %[[O:.*]] = memref.reinterpret_cast %[[OUT]] to offset: [0], sizes: [4, 8], strides: [8, 1]
// BUF: scf.parallel
// BUF: memref.subview %[[O]]
// BUF-NOT: memref.copy
// BUF: return %{{.*}} : i32

// The kernel is a function of its own (mlirfuse-share-kernels), which the entry calls
// with the buffers' bases; its rows run on OpenMP threads; each row of 8 is one AVX2
// vector: loaded, added, clamped at zero and stored as vector<8xf32>.
// LLVM-LABEL: llvm.func @main
// LLVM: llvm.call @mlirfuse_kernel_0(
// LLVM: llvm.func @_mlir_ciface_main(%{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr) -> i32
// LLVM: llvm.func @mlirfuse_kernel_0({{.*}}) attributes {mlirfuse.code = "{{[0-9a-f]+}}", no_inline, sym_visibility = "private"}
// LLVM: omp.parallel
// LLVM: omp.wsloop
// LLVM: llvm.load {{.*}} -> vector<8xf32>
// LLVM: llvm.load {{.*}} -> vector<8xf32>
// LLVM: llvm.fadd {{.*}} : vector<8xf32>
// LLVM: llvm.intr.maximum({{.*}}) : (vector<8xf32>, vector<8xf32>) -> vector<8xf32>
// LLVM: llvm.store {{.*}} : vector<8xf32>, !llvm.ptr
// LLVM-NOT: unrealized_conversion_cast

// BAD: error: unknown stage(s) ['nope']
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
