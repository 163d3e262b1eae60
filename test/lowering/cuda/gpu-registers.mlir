// RUN: mlirfuse-opt %s --pass-pipeline='builtin.module(mlirfuse-map-to-gpu{vector-bytes=16}, canonicalize, cse)' | FileCheck %s

// lowering/cuda/gpu_registers.py (forwarding loads from stores, a helper of
// mlirfuse-map-to-gpu): an argmax over rows of 8, its running maximum in a tile-local
// buffer (shared memory), then the index times 2 plus 1. The reduction runs as a loop of
// one thread; each step must read the maximum the step before stored. It read the fill's
// -inf each time (bench/fuzz.py on the H200, seed 623: the last index won).
// CHECK-LABEL: func.func @argmax_times_two
// CHECK:         gpu.launch
// CHECK:         scf.for
// CHECK:           %[[M0:.*]] = memref.load %[[ACC:.*]][%{{.*}}, %{{.*}}] : memref<1x1xf32, #gpu.address_space<workgroup>>
// CHECK:           arith.cmpf ogt, %{{.*}}, %[[M0]] : f32
// CHECK:           memref.store %{{.*}}, %[[ACC]]
// CHECK:           %[[M1:.*]] = memref.load %[[ACC]]
// CHECK:           arith.cmpf ogt, %{{.*}}, %[[M1]] : f32
// CHECK-NOT:     arith.cmpf ogt, %{{.*}}, %cst
#map = affine_map<(d0, d1) -> (d0, d1)>
#map1 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
#map2 = affine_map<(d0, d1, d2) -> (d0, d1)>
func.func @argmax_times_two(%x: memref<2x1x8xf32>, %res: memref<2x1xi64>) attributes {mlirfuse.abi} {
  %c0_i64 = arith.constant 0 : i64
  %c1_i64 = arith.constant 1 : i64
  %c2_i64 = arith.constant 2 : i64
  %cst = arith.constant 0xFF800000 : f32
  scf.forall (%arg2) in (2) {
    %subview = memref.subview %x[%arg2, 0, 0] [1, 1, 8] [1, 1, 1] : memref<2x1x8xf32> to memref<1x1x8xf32, strided<[8, 8, 1], offset: ?>>
    %alloc = memref.alloc() {alignment = 64 : i64} : memref<1x1xf32>
    linalg.generic {indexing_maps = [#map], iterator_types = ["parallel", "parallel"]} outs(%alloc : memref<1x1xf32>) {
    ^bb0(%out: f32):
      linalg.yield %cst : f32
    }
    %subview_6 = memref.subview %res[%arg2, 0] [1, 1] [1, 1] : memref<2x1xi64> to memref<1x1xi64, strided<[1, 1], offset: ?>>
    linalg.generic {indexing_maps = [#map], iterator_types = ["parallel", "parallel"]} outs(%subview_6 : memref<1x1xi64, strided<[1, 1], offset: ?>>) {
    ^bb0(%out: i64):
      linalg.yield %c0_i64 : i64
    }
    linalg.generic {indexing_maps = [#map1, #map2, #map2], iterator_types = ["parallel", "parallel", "reduction"]} ins(%subview : memref<1x1x8xf32, strided<[8, 8, 1], offset: ?>>) outs(%alloc, %subview_6 : memref<1x1xf32>, memref<1x1xi64, strided<[1, 1], offset: ?>>) {
    ^bb0(%in: f32, %out: f32, %out_7: i64):
      %25 = math.tanh %in : f32
      %26 = linalg.index 2 : index
      %27 = arith.index_cast %26 : index to i64
      %28 = arith.maximumf %25, %out : f32
      %29 = arith.cmpf ogt, %25, %out : f32
      %30 = arith.select %29, %27, %out_7 : i64
      linalg.yield %28, %30 : f32, i64
    }
    linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel"]} ins(%subview_6 : memref<1x1xi64, strided<[1, 1], offset: ?>>) outs(%subview_6 : memref<1x1xi64, strided<[1, 1], offset: ?>>) {
    ^bb0(%in: i64, %out: i64):
      %25 = arith.muli %in, %c2_i64 : i64
      %26 = arith.addi %25, %c1_i64 : i64
      linalg.yield %26 : i64
    }
    memref.copy %subview_6, %subview_6 : memref<1x1xi64, strided<[1, 1], offset: ?>> to memref<1x1xi64, strided<[1, 1], offset: ?>>
  }
  return
}
