// RUN: mlirfuse-opt %s --pass-pipeline='builtin.module(mlirfuse-tile-kernels, canonicalize, cse)' | FileCheck %s

// cosine_similarity's kernel: three row sums start from one zero fill (CSE merged them),
// and the last one is the root. Each sum gets its own fill inside the loop: the two
// inner sums no longer start from the tile of the loop's output that the root
// accumulates into (they read garbage then: results of 1e35).
// CHECK-LABEL: func.func private @kernel_0
// CHECK:         %[[EMPTY:.*]] = tensor.empty() : tensor<5xf32>
// CHECK:         scf.forall (%[[I:.*]]) in (5) shared_outs(%[[OUT:.*]] = %[[EMPTY]])
// CHECK:           %[[SCRATCH:.*]] = tensor.extract_slice %[[EMPTY]][%[[I]]] [1] [1]
// CHECK:           %[[Z1:.*]] = linalg.generic {{.*}} outs(%[[SCRATCH]] : tensor<1xf32>)
// CHECK-NEXT:        ^bb0(%{{.*}}: f32):
// CHECK-NEXT:          linalg.yield %[[ZERO:.*]] : f32
// CHECK:           %[[A:.*]] = linalg.generic {{.*}} outs(%[[Z1]] : tensor<1xf32>)
// CHECK:           %[[B:.*]] = linalg.generic {{.*}} outs(%[[Z1]] : tensor<1xf32>)
// CHECK:           %[[TILE:.*]] = tensor.extract_slice %[[OUT]][%[[I]]] [1] [1]
// CHECK:           %[[Z3:.*]] = linalg.generic {{.*}} outs(%[[TILE]] : tensor<1xf32>)
// CHECK-NEXT:        ^bb0(%{{.*}}: f32):
// CHECK-NEXT:          linalg.yield %[[ZERO]] : f32
// CHECK:           linalg.generic {{.*}} ins(%{{.*}}, %[[A]], %{{.*}}, %[[B]] : {{.*}}) outs(%[[Z3]] : tensor<1xf32>)

#map = affine_map<(d0) -> (d0)>
#map1 = affine_map<(d0, d1) -> (d0, d1)>
#map2 = affine_map<(d0, d1) -> (d0)>
module {
  func.func private @kernel_0(%a: tensor<5x5xf32>, %b: tensor<5x5xf32>) -> tensor<5xf32> attributes {mlirfuse.kernel} {
    %zero = arith.constant 0.000000e+00 : f32
    %e = tensor.empty() : tensor<5xf32>
    %fill = linalg.generic {indexing_maps = [#map], iterator_types = ["parallel"]} outs(%e : tensor<5xf32>) {
    ^bb0(%out: f32):
      linalg.yield %zero : f32
    } -> tensor<5xf32>
    %sa = linalg.generic {indexing_maps = [#map1, #map2], iterator_types = ["parallel", "reduction"]} ins(%a : tensor<5x5xf32>) outs(%fill : tensor<5xf32>) {
    ^bb0(%in: f32, %out: f32):
      %m = arith.mulf %in, %in : f32
      %s = arith.addf %m, %out : f32
      linalg.yield %s : f32
    } -> tensor<5xf32>
    %sb = linalg.generic {indexing_maps = [#map1, #map2], iterator_types = ["parallel", "reduction"]} ins(%b : tensor<5x5xf32>) outs(%fill : tensor<5xf32>) {
    ^bb0(%in: f32, %out: f32):
      %m = arith.mulf %in, %in : f32
      %s = arith.addf %m, %out : f32
      linalg.yield %s : f32
    } -> tensor<5xf32>
    %r = linalg.generic {indexing_maps = [#map1, #map2, #map1, #map2, #map2], iterator_types = ["parallel", "reduction"]} ins(%a, %sa, %b, %sb : tensor<5x5xf32>, tensor<5xf32>, tensor<5x5xf32>, tensor<5xf32>) outs(%fill : tensor<5xf32>) attrs = {mlirfuse.tile_loops = array<i64: 0>} {
    ^bb0(%x: f32, %nx: f32, %y: f32, %ny: f32, %out: f32):
      %p = arith.mulf %x, %y : f32
      %q = arith.mulf %nx, %ny : f32
      %t = arith.divf %p, %q : f32
      %s = arith.addf %t, %out : f32
      linalg.yield %s : f32
    } -> tensor<5xf32>
    return %r : tensor<5xf32>
  }
}
