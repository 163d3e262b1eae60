// RUN: mlirfuse-opt %s --pass-pipeline='builtin.module(mlirfuse-tile-kernels, canonicalize)' | FileCheck %s

// torch.cat([t, t], -1) with t = tanh(x), as mlirfuse-concat-to-select makes it: a select
// of two padded copies of t. Fusing the pads puts two reads of t inside the loop, in the
// scf.if each tiled pad makes; fusing tanh into the loop then crashed upstream's
// fuse_into_containing_op (SIGSEGV). tanh stays before the loop; the pads and the select
// are one loop over the rows.
// CHECK-LABEL: func.func private @kernel_0
// CHECK:         %[[T:.*]] = linalg.generic
// CHECK:           math.tanh
// CHECK:         scf.forall (%[[I:.*]]) in (64)
// CHECK:           tensor.extract_slice %[[T]][%[[I]], 0] [1, 2] [1, 1]
// CHECK:           tensor.pad
// CHECK:           linalg.generic
// CHECK:             arith.select
// CHECK:           scf.forall.in_parallel
#map = affine_map<(d0, d1) -> (d0, d1)>
module {
  func.func private @kernel_0(%arg0: tensor<64x2xf32>) -> tensor<64x4xf32> attributes {mlirfuse.kernel} {
    %cst = arith.constant 0.000000e+00 : f32
    %c2 = arith.constant 2 : index
    %0 = tensor.empty() : tensor<64x4xf32>
    %1 = tensor.empty() : tensor<64x2xf32>
    %2 = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel"]} ins(%arg0 : tensor<64x2xf32>) outs(%1 : tensor<64x2xf32>) {
    ^bb0(%in: f32, %out: f32):
      %4 = math.tanh %in : f32
      linalg.yield %4 : f32
    } -> tensor<64x2xf32>
    %padded = tensor.pad %2 low[0, 0] high[0, 2] {
    ^bb0(%arg1: index, %arg2: index):
      tensor.yield %cst : f32
    } : tensor<64x2xf32> to tensor<64x4xf32>
    %padded_0 = tensor.pad %2 low[0, 2] high[0, 0] {
    ^bb0(%arg1: index, %arg2: index):
      tensor.yield %cst : f32
    } : tensor<64x2xf32> to tensor<64x4xf32>
    %3 = linalg.generic {indexing_maps = [#map, #map, #map], iterator_types = ["parallel", "parallel"]} ins(%padded, %padded_0 : tensor<64x4xf32>, tensor<64x4xf32>) outs(%0 : tensor<64x4xf32>) attrs =  {mlirfuse.tile_loops = array<i64: 0>} {
    ^bb0(%in: f32, %in_1: f32, %out: f32):
      %4 = linalg.index 1 : index
      %5 = arith.cmpi ult, %4, %c2 : index
      %6 = arith.select %5, %in, %in_1 : f32
      linalg.yield %6 : f32
    } -> tensor<64x4xf32>
    return %3 : tensor<64x4xf32>
  }
}
