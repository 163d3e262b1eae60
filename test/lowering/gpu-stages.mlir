// The compile's own CUDA stage pipelines (lowering/stages.py, run by --stages with
// --target), on linalg on tensors as torch-mlir emits it: a softmax feeding a matmul
// with a bias + relu epilogue. No GPU is needed: PTX comes from llc.
// RUN: mlirfuse-opt %s --target cuda:sm_90 --stages fused,guarded,kernels,bufferized,gpu | FileCheck %s --check-prefix=GPU
// RUN: mlirfuse-opt %s --target cuda:sm_90 --stages fused,guarded,kernels,bufferized,gpu,ptx | FileCheck %s --check-prefix=PTX

// The softmax is one kernel, one block per row (4 rows: too few for a row per warp):
// vector loads, block reductions; 32 threads for its 16 vectors a row.
// The matmul is a cuBLAS call that overwrites its output (its zero fill is gone);
// bias + relu is a kernel of its own. The temporaries between them are in the workspace.
// GPU-LABEL: func.func @main
// GPU-SAME: %{{.*}}: memref<?xi8>) -> i32 attributes {{{.*}}mlirfuse.workspace = 1280 : i64
// GPU: scf.if
// GPU: gpu.launch_func  @[[SOFTMAX:main_kernel]]::@main_kernel blocks in (%c4, %c1, %c1) threads in (%c32, %c1, %c1)
// GPU: func.call @mlirfuse_gemm(%c0_i32, %c1_i64, %c4_i64, %c16_i64, %c64_i64,
// GPU-SAME: %c0_i32) : (i32,
// GPU: gpu.launch_func  @[[EPILOGUE:main_kernel_0]]::@main_kernel
// GPU-NOT: gpu.launch_func
// GPU: return
// GPU: gpu.module @[[SOFTMAX]]
// Every read of the reductions' one-element buffers is forwarded from registers: no
// workgroup buffer is left (mlirfuse-workgroup-buffers dropped them).
// GPU: gpu.func @main_kernel({{.*}}) kernel attributes
// GPU: vector.load {{.*}} {alignment = 16 : i64} : memref<1x64xf32, strided<[64, 1], offset: ?>>, vector<4xf32>
// GPU: gpu.all_reduce maximumf
// GPU-NOT: gpu.barrier
// GPU: math.exp
// GPU: gpu.barrier
// GPU: gpu.all_reduce add
// GPU: arith.divf
// GPU: vector.store {{.*}} {alignment = 16 : i64}
// GPU: gpu.module @[[EPILOGUE]]

// One PTX module per kernel for sm_90: 16-byte loads, warp shuffles, libdevice's expf
// linked and inlined (no call left).
// PTX: // gpu.binary @main_kernel
// PTX: .target sm_90
// PTX: .visible .entry main_kernel(
// PTX: ld.global.v4.b32
// PTX: shfl.sync.bfly.b32
// PTX: bar.sync
// PTX-NOT: call{{.*}}__nv_
// PTX: st.global.v4.b32
// PTX: // gpu.binary @main_kernel_0
// PTX: .visible .entry main_kernel(
#map = affine_map<(d0, d1) -> (d0, d1)>
#map1 = affine_map<(d0, d1) -> (d0)>
#map2 = affine_map<(d0, d1) -> (d0, 0)>
#map3 = affine_map<(d0, d1) -> (d1)>
module {
  func.func @main(%arg0: tensor<4x64xf32>, %arg1: tensor<64x16xf32>, %arg2: tensor<16xf32>) -> tensor<4x16xf32> {
    %c0_i64 = arith.constant 0 : i64
    %cst = arith.constant 0xFF800000 : f32
    %cst_0 = arith.constant 0.000000e+00 : f32
    %0 = tensor.empty() : tensor<4xi64>
    %1 = linalg.fill ins(%c0_i64 : i64) outs(%0 : tensor<4xi64>) -> tensor<4xi64>
    %2 = tensor.empty() : tensor<4xf32>
    %3 = linalg.fill ins(%cst : f32) outs(%2 : tensor<4xf32>) -> tensor<4xf32>
    %4:2 = linalg.generic {indexing_maps = [#map, #map1, #map1], iterator_types = ["parallel", "reduction"]} ins(%arg0 : tensor<4x64xf32>) outs(%3, %1 : tensor<4xf32>, tensor<4xi64>) {
    ^bb0(%in: f32, %out: f32, %out_1: i64):
      %17 = linalg.index 1 : index
      %18 = arith.index_cast %17 : index to i64
      %19 = arith.maximumf %in, %out : f32
      %20 = arith.cmpf ogt, %in, %out : f32
      %21 = arith.select %20, %18, %out_1 : i64
      linalg.yield %19, %21 : f32, i64
    } -> (tensor<4xf32>, tensor<4xi64>)
    %expanded = tensor.expand_shape %4#0 [[0, 1]] output_shape [4, 1] : tensor<4xf32> into tensor<4x1xf32>
    %5 = tensor.empty() : tensor<4x64xf32>
    %6 = linalg.generic {indexing_maps = [#map, #map2, #map], iterator_types = ["parallel", "parallel"]} ins(%arg0, %expanded : tensor<4x64xf32>, tensor<4x1xf32>) outs(%5 : tensor<4x64xf32>) {
    ^bb0(%in: f32, %in_1: f32, %out: f32):
      %17 = arith.subf %in, %in_1 : f32
      linalg.yield %17 : f32
    } -> tensor<4x64xf32>
    %7 = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel"]} ins(%6 : tensor<4x64xf32>) outs(%5 : tensor<4x64xf32>) {
    ^bb0(%in: f32, %out: f32):
      %17 = math.exp %in : f32
      linalg.yield %17 : f32
    } -> tensor<4x64xf32>
    %8 = tensor.empty() : tensor<4x1xf32>
    %9 = linalg.fill ins(%cst_0 : f32) outs(%8 : tensor<4x1xf32>) -> tensor<4x1xf32>
    %10 = linalg.generic {indexing_maps = [#map, #map2], iterator_types = ["parallel", "reduction"]} ins(%7 : tensor<4x64xf32>) outs(%9 : tensor<4x1xf32>) {
    ^bb0(%in: f32, %out: f32):
      %17 = arith.addf %in, %out : f32
      linalg.yield %17 : f32
    } -> tensor<4x1xf32>
    %11 = linalg.generic {indexing_maps = [#map, #map2, #map], iterator_types = ["parallel", "parallel"]} ins(%7, %10 : tensor<4x64xf32>, tensor<4x1xf32>) outs(%5 : tensor<4x64xf32>) {
    ^bb0(%in: f32, %in_1: f32, %out: f32):
      %17 = arith.divf %in, %in_1 : f32
      linalg.yield %17 : f32
    } -> tensor<4x64xf32>
    %12 = tensor.empty() : tensor<4x16xf32>
    %13 = linalg.fill ins(%cst_0 : f32) outs(%12 : tensor<4x16xf32>) -> tensor<4x16xf32>
    %14 = linalg.matmul ins(%11, %arg1 : tensor<4x64xf32>, tensor<64x16xf32>) outs(%13 : tensor<4x16xf32>) -> tensor<4x16xf32>
    %15 = linalg.generic {indexing_maps = [#map, #map3, #map], iterator_types = ["parallel", "parallel"]} ins(%14, %arg2 : tensor<4x16xf32>, tensor<16xf32>) outs(%12 : tensor<4x16xf32>) {
    ^bb0(%in: f32, %in_1: f32, %out: f32):
      %17 = arith.addf %in, %in_1 : f32
      linalg.yield %17 : f32
    } -> tensor<4x16xf32>
    %16 = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel"]} ins(%15 : tensor<4x16xf32>) outs(%12 : tensor<4x16xf32>) {
    ^bb0(%in: f32, %out: f32):
      %17 = arith.cmpf ugt, %in, %cst_0 : f32
      %18 = arith.select %17, %in, %cst_0 : f32
      linalg.yield %18 : f32
    } -> tensor<4x16xf32>
    return %16 : tensor<4x16xf32>
  }
}
