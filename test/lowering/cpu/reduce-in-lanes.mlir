// RUN: mlirfuse-opt %s --pass-pipeline='builtin.module(mlirfuse-reduce-in-lanes)' | FileCheck %s

#row = affine_map<(d0, d1) -> (d0, d1)>
#red = affine_map<(d0, d1) -> (d0)>

// A row sum of 1024: 16 partial sums filled with 0, a loop over the row in steps of
// 16 whose body is elementwise, one final reduce of the 16 partials.
// CHECK-LABEL: func.func @row_sum
// CHECK: linalg.fill {{.*}} -> tensor<1x16xf32>
// CHECK: scf.for {{.*}} step %c16
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "parallel"]
// CHECK: arith.addf
// CHECK: linalg.reduce
// CHECK-SAME: dimensions = [1]
func.func @row_sum(%x: tensor<1x1024xf32>, %init: tensor<1xf32>) -> tensor<1xf32> {
  %0 = linalg.generic {indexing_maps = [#row, #red], iterator_types = ["parallel", "reduction"]} ins(%x : tensor<1x1024xf32>) outs(%init : tensor<1xf32>) {
  ^bb0(%a: f32, %o: f32):
    %1 = arith.addf %a, %o : f32
    linalg.yield %1 : f32
  } -> tensor<1xf32>
  return %0 : tensor<1xf32>
}

// argmax (two outputs, no single combiner each) and rows that are not a multiple of
// 16 stay as they are.
// CHECK-LABEL: func.func @left_alone
// CHECK-NOT: scf.for
// CHECK-COUNT-2: linalg.generic
// CHECK-NOT: scf.for
func.func @left_alone(%x: tensor<1x1024xf32>, %m: tensor<1xf32>, %i: tensor<1xi64>, %y: tensor<1x24xf32>, %s: tensor<1xf32>) -> (tensor<1xf32>, tensor<1xi64>, tensor<1xf32>) {
  %0:2 = linalg.generic {indexing_maps = [#row, #red, #red], iterator_types = ["parallel", "reduction"]} ins(%x : tensor<1x1024xf32>) outs(%m, %i : tensor<1xf32>, tensor<1xi64>) {
  ^bb0(%a: f32, %o: f32, %oi: i64):
    %k = linalg.index 1 : index
    %ki = arith.index_cast %k : index to i64
    %gt = arith.cmpf ogt, %a, %o : f32
    %v = arith.select %gt, %a, %o : f32
    %j = arith.select %gt, %ki, %oi : i64
    linalg.yield %v, %j : f32, i64
  } -> (tensor<1xf32>, tensor<1xi64>)
  %1 = linalg.generic {indexing_maps = [#row, #red], iterator_types = ["parallel", "reduction"]} ins(%y : tensor<1x24xf32>) outs(%s : tensor<1xf32>) {
  ^bb0(%a: f32, %o: f32):
    %2 = arith.addf %a, %o : f32
    linalg.yield %2 : f32
  } -> tensor<1xf32>
  return %0#0, %0#1, %1 : tensor<1xf32>, tensor<1xi64>, tensor<1xf32>
}

// A matmul (a contraction) stays one op: its partials would be a 64x512x16 temporary,
// sixteen times its output (the BLAS takes it: mlirfuse-library-gemm).
#a = affine_map<(d0, d1, d2) -> (d0, d2)>
#b = affine_map<(d0, d1, d2) -> (d1, d2)>
#c = affine_map<(d0, d1, d2) -> (d0, d1)>
// CHECK-LABEL: func.func @matmul_left_alone
// CHECK-NOT: linalg.fill
// CHECK-NOT: scf.for
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "reduction"]
// CHECK-NOT: linalg.reduce
func.func @matmul_left_alone(%x: tensor<64x512xf32>, %w: tensor<512x512xf32>, %acc: tensor<64x512xf32>) -> tensor<64x512xf32> {
  %0 = linalg.generic {indexing_maps = [#a, #b, #c], iterator_types = ["parallel", "parallel", "reduction"]} ins(%x, %w : tensor<64x512xf32>, tensor<512x512xf32>) outs(%acc : tensor<64x512xf32>) {
  ^bb0(%p: f32, %q: f32, %o: f32):
    %1 = arith.mulf %p, %q : f32
    %2 = arith.addf %o, %1 : f32
    linalg.yield %2 : f32
  } -> tensor<64x512xf32>
  return %0 : tensor<64x512xf32>
}

// Symbolic sizes: a row sum over rows of symbolic count (tensor<?x512xf32>), as
// mlirfuse-tile-kernels leaves it: an scf.forall over the tensor.dim of rows, each tile
// one static row of 512. The tile is split into 16 lanes as a static row is; the loop
// over the symbolic rows stays around it.
// CHECK-LABEL: func.func @symbolic_rows
// CHECK: %[[D:.*]] = tensor.dim %{{.*}}, %{{.*}} : tensor<?x512xf32>
// CHECK: scf.forall (%{{.*}}) in (%[[D]])
// CHECK: tensor.extract_slice {{.*}} : tensor<?x512xf32> to tensor<1x512xf32>
// CHECK: linalg.fill {{.*}} -> tensor<1x16xf32>
// CHECK: scf.for {{.*}} step %c16
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "parallel"]
// CHECK: arith.addf
// CHECK: linalg.reduce
// CHECK-SAME: dimensions = [1]
// CHECK: tensor.parallel_insert_slice {{.*}} : tensor<1xf32> into tensor<?xf32>
func.func @symbolic_rows(%x: tensor<?x512xf32>) -> tensor<?xf32> {
  %c0 = arith.constant 0 : index
  %zero = arith.constant 0.000000e+00 : f32
  %n = tensor.dim %x, %c0 : tensor<?x512xf32>
  %e = tensor.empty(%n) : tensor<?xf32>
  %0 = scf.forall (%i) in (%n) shared_outs(%out = %e) -> (tensor<?xf32>) {
    %row = tensor.extract_slice %x[%i, 0] [1, 512] [1, 1] : tensor<?x512xf32> to tensor<1x512xf32>
    %acc = tensor.extract_slice %out[%i] [1] [1] : tensor<?xf32> to tensor<1xf32>
    %init = linalg.fill ins(%zero : f32) outs(%acc : tensor<1xf32>) -> tensor<1xf32>
    %s = linalg.generic {indexing_maps = [#row, #red], iterator_types = ["parallel", "reduction"]} ins(%row : tensor<1x512xf32>) outs(%init : tensor<1xf32>) {
    ^bb0(%a: f32, %o: f32):
      %1 = arith.addf %a, %o : f32
      linalg.yield %1 : f32
    } -> tensor<1xf32>
    scf.forall.in_parallel {
      tensor.parallel_insert_slice %s into %out[%i] [1] [1] : tensor<1xf32> into tensor<?xf32>
    }
  }
  return %0 : tensor<?xf32>
}

// A row of symbolic length (attention's row over a symbolic key count: a tile
// tensor<1x?xf32>, its length a tensor.dim) is left alone, as the pass's docstring says
// of dynamic extents: the lanes need a row that is a multiple of 16. The op stays one
// reduction and the output verifies.
// CHECK-LABEL: func.func @symbolic_row_length
// CHECK: scf.forall
// CHECK-NOT: scf.for %
// CHECK-NOT: linalg.reduce
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "reduction"]{{.*}} ins(%{{.*}} : tensor<1x?xf32>) outs(%{{.*}} : tensor<1xf32>)
// CHECK-NOT: scf.for %
// CHECK-NOT: linalg.reduce
// CHECK: return
func.func @symbolic_row_length(%x: tensor<?x?xf32>) -> tensor<?xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %zero = arith.constant 0.000000e+00 : f32
  %n = tensor.dim %x, %c0 : tensor<?x?xf32>
  %m = tensor.dim %x, %c1 : tensor<?x?xf32>
  %e = tensor.empty(%n) : tensor<?xf32>
  %0 = scf.forall (%i) in (%n) shared_outs(%out = %e) -> (tensor<?xf32>) {
    %row = tensor.extract_slice %x[%i, 0] [1, %m] [1, 1] : tensor<?x?xf32> to tensor<1x?xf32>
    %acc = tensor.extract_slice %out[%i] [1] [1] : tensor<?xf32> to tensor<1xf32>
    %init = linalg.fill ins(%zero : f32) outs(%acc : tensor<1xf32>) -> tensor<1xf32>
    %s = linalg.generic {indexing_maps = [#row, #red], iterator_types = ["parallel", "reduction"]} ins(%row : tensor<1x?xf32>) outs(%init : tensor<1xf32>) {
    ^bb0(%a: f32, %o: f32):
      %1 = arith.addf %a, %o : f32
      linalg.yield %1 : f32
    } -> tensor<1xf32>
    scf.forall.in_parallel {
      tensor.parallel_insert_slice %s into %out[%i] [1] [1] : tensor<1xf32> into tensor<?xf32>
    }
  }
  return %0 : tensor<?xf32>
}
