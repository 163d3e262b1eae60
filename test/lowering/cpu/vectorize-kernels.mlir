// RUN: mlirfuse-opt %s --pass-pipeline='builtin.module(mlirfuse-vectorize-kernels)' | FileCheck %s

#row = affine_map<(d0, d1) -> (d0, d1)>
#col = affine_map<(d0, d1) -> (d1)>
#t = affine_map<(d0, d1) -> (d1, d0)>

// A row of 64 f32 with a broadcast bias: steps of 16 lanes (two AVX2 registers),
// transfers along the row, the body's ops on vectors.
// CHECK-LABEL: func.func @bias_exp
// CHECK: scf.for {{.*}} = %{{.*}} to %c64 step %c16
// CHECK: vector.transfer_read {{.*}} vector<1x16xf32>
// CHECK: vector.transfer_read {{.*}} vector<1x16xf32>
// CHECK: arith.addf {{.*}} : vector<1x16xf32>
// CHECK: math.exp {{.*}} : vector<1x16xf32>
// CHECK: vector.transfer_write
// CHECK-NOT: linalg.generic
func.func @bias_exp(%x: memref<1x64xf32, strided<[64, 1], offset: ?>>, %b: memref<64xf32>, %y: memref<1x64xf32, strided<[64, 1], offset: ?>>) {
  linalg.generic {indexing_maps = [#row, #col, #row], iterator_types = ["parallel", "parallel"]} ins(%x, %b : memref<1x64xf32, strided<[64, 1], offset: ?>>, memref<64xf32>) outs(%y : memref<1x64xf32, strided<[64, 1], offset: ?>>) {
  ^bb0(%a: f32, %c: f32, %o: f32):
    %0 = arith.addf %a, %c : f32
    %1 = math.exp %0 : f32
    linalg.yield %1 : f32
  }
  return
}

// Reductions, transposed operands and rows that are not a multiple of 8 lanes stay
// scalar (linalg, for convert-linalg-to-loops).
// CHECK-LABEL: func.func @left_alone
// CHECK-NOT: vector.
// CHECK-COUNT-3: linalg.generic
// CHECK-NOT: vector.
func.func @left_alone(%x: memref<8x8xf32>, %s: memref<8xf32>, %y: memref<8x8xf32>, %z: memref<2x12xf32>) {
  linalg.generic {indexing_maps = [#row, affine_map<(d0, d1) -> (d0)>], iterator_types = ["parallel", "reduction"]} ins(%x : memref<8x8xf32>) outs(%s : memref<8xf32>) {
  ^bb0(%a: f32, %o: f32):
    %0 = arith.addf %a, %o : f32
    linalg.yield %0 : f32
  }
  linalg.generic {indexing_maps = [#t, #row], iterator_types = ["parallel", "parallel"]} ins(%x : memref<8x8xf32>) outs(%y : memref<8x8xf32>) {
  ^bb0(%a: f32, %o: f32):
    linalg.yield %a : f32
  }
  linalg.generic {indexing_maps = [#row], iterator_types = ["parallel", "parallel"]} outs(%z : memref<2x12xf32>) {
  ^bb0(%o: f32):
    %0 = arith.addf %o, %o : f32
    linalg.yield %0 : f32
  }
  return
}

// A gather (im2col: the input read through floordiv/mod of the loops, no projection) is
// no contiguous read: it stays scalar. It was taken for a broadcast along the innermost
// loop, and the vectorizer left an empty scf.for (a verifier error).
// CHECK-LABEL: func.func @gather_left_alone
// CHECK-NOT: vector.
// CHECK: linalg.generic
func.func @gather_left_alone(%x: memref<2x4x6x6xf32>, %col: memref<2x36x16xf32>) {
  linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d1 floordiv 9, d2 floordiv 4 + (d1 mod 9) floordiv 3, d2 mod 4 + d1 mod 3)>, affine_map<(d0, d1, d2) -> (d0, d1, d2)>], iterator_types = ["parallel", "parallel", "parallel"]} ins(%x : memref<2x4x6x6xf32>) outs(%col : memref<2x36x16xf32>) {
  ^bb0(%a: f32, %o: f32):
    linalg.yield %a : f32
  }
  return
}

// Symbolic sizes: a generic whose row count is symbolic but whose rows are static (a
// tile of a kernel on a [?, 64] tensor, after mlirfuse-tile-kernels) is vector code.
// One whose innermost extent is symbolic (attention's row over a symbolic key count):
// its full steps of 16 are peeled from the remainder and are vector code; the remainder,
// fewer than 16 elements, stays scalar (before: the whole row was scalar).
// CHECK-LABEL: func.func @symbolic_rows
// CHECK: scf.for {{.*}} = %{{.*}} to %c64 step %c16
// CHECK: vector.transfer_read {{.*}} vector<1x16xf32>
// CHECK-NOT: linalg.generic
// CHECK-LABEL: func.func @symbolic_row_length
// CHECK: %[[FULL:.*]] = affine.apply
// CHECK: scf.for %{{.*}} = %{{.*}} to %[[FULL]] step %c16
// CHECK: vector.transfer_read {{.*}} : memref<1x16xf32, strided<[?, 1], offset: ?>>, vector<1x16xf32>
// CHECK: math.exp {{.*}} : vector<1x16xf32>
// CHECK: vector.transfer_write
// CHECK: scf.for %{{.*}} = %[[FULL]] to %{{.*}} step %c16
// CHECK: linalg.generic
// CHECK: math.exp {{.*}} : f32
func.func @symbolic_rows(%x: memref<1x64xf32, strided<[64, 1], offset: ?>>, %y: memref<1x64xf32, strided<[64, 1], offset: ?>>) {
  linalg.generic {indexing_maps = [#row, #row], iterator_types = ["parallel", "parallel"]} ins(%x : memref<1x64xf32, strided<[64, 1], offset: ?>>) outs(%y : memref<1x64xf32, strided<[64, 1], offset: ?>>) {
  ^bb0(%a: f32, %o: f32):
    %0 = math.exp %a : f32
    linalg.yield %0 : f32
  }
  return
}
func.func @symbolic_row_length(%x: memref<1x?xf32, strided<[?, 1], offset: ?>>, %y: memref<1x?xf32, strided<[?, 1], offset: ?>>) {
  linalg.generic {indexing_maps = [#row, #row], iterator_types = ["parallel", "parallel"]} ins(%x : memref<1x?xf32, strided<[?, 1], offset: ?>>) outs(%y : memref<1x?xf32, strided<[?, 1], offset: ?>>) {
  ^bb0(%a: f32, %o: f32):
    %0 = math.exp %a : f32
    linalg.yield %0 : f32
  }
  return
}
