// Regression: a kernel over a zero-element tensor is left untiled (upstream tiling
// crashed the process on a loop of extent 0).
// RUN: mlirfuse-opt %s --pass-pipeline='builtin.module(mlirfuse-tile-kernels)' | FileCheck %s
// CHECK-LABEL: func.func private @kernel_0
// CHECK-NOT: scf.forall
// CHECK-NOT: mlirfuse.tile_loops
// CHECK: return
#map = affine_map<(d0) -> (d0)>
#map1 = affine_map<(d0, d1) -> (d0, d1)>
#map2 = affine_map<(d0, d1) -> (d1)>
module {
  func.func @main(%arg0: tensor<0x4xf32> {bufferization.buffer_layout = #map1, bufferization.writable = false}, %arg1: tensor<4xf32> {bufferization.buffer_layout = #map, bufferization.writable = true}) -> tensor<4xf32> attributes {llvm.emit_c_interface, mlirfuse.abi, mlirfuse.example_strides = [array<i64: 4, 1>]} {
    "mlirfuse.guard"(%arg0) {arg = 0 : i64, sizes = array<i64: 0, 4>, strides = array<i64: 4, 1>} : (tensor<0x4xf32>) -> ()
    "mlirfuse.guard"(%arg1) {arg = 1 : i64, sizes = array<i64: 4>, strides = array<i64: 1>} : (tensor<4xf32>) -> ()
    %0 = call @kernel_0(%arg0) : (tensor<0x4xf32>) -> tensor<4xf32>
    %1 = bufferization.materialize_in_destination %0 in %arg1 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
    return %1 : tensor<4xf32>
  }
  func.func private @kernel_0(%arg0: tensor<0x4xf32>) -> tensor<4xf32> attributes {mlirfuse.kernel} {
    %cst = arith.constant 0.000000e+00 : f32
    %0 = tensor.empty() : tensor<4xf32>
    %1 = linalg.generic {indexing_maps = [#map], iterator_types = ["parallel"]} outs(%0 : tensor<4xf32>) {
    ^bb0(%out: f32):
      linalg.yield %cst : f32
    } -> tensor<4xf32>
    %2 = linalg.generic {indexing_maps = [#map1, #map2], iterator_types = ["reduction", "parallel"]} ins(%arg0 : tensor<0x4xf32>) outs(%1 : tensor<4xf32>) attrs =  {mlirfuse.tile_loops = array<i64: 1>} {
    ^bb0(%in: f32, %out: f32):
      %3 = arith.addf %in, %out : f32
      linalg.yield %3 : f32
    } -> tensor<4xf32>
    return %2 : tensor<4xf32>
  }
}
