// RUN: mlirfuse-opt %s --pass-pipeline='builtin.module(mlirfuse-drop-asserts)' | FileCheck %s

#m = affine_map<(d0) -> (d0)>
#m2 = affine_map<(d0, d1) -> (d0, d1)>

// batch_norm's check that sqrt(var + eps) is not 0 goes (eager divides and gives inf);
// an index bounds check stays.
// CHECK-LABEL: func.func @asserts
// CHECK-NOT: tensor with zero element
// CHECK: cf.assert %{{.*}}, "index must be smaller than dim size"
// CHECK-NOT: tensor with zero element
func.func @asserts(%v: tensor<8xf32>, %init: tensor<8xf32>, %i: i64) -> tensor<8xf32> {
  %zero = arith.constant 0.0 : f32
  %c8 = arith.constant 8 : i64
  %ok = arith.cmpi slt, %i, %c8 : i64
  cf.assert %ok, "index must be smaller than dim size"
  %0 = linalg.generic {indexing_maps = [#m, #m], iterator_types = ["parallel"]} ins(%v : tensor<8xf32>) outs(%init : tensor<8xf32>) {
  ^bb0(%a: f32, %o: f32):
    %s = math.sqrt %a : f32
    %nz = arith.cmpf one, %s, %zero : f32
    cf.assert %nz, "unimplemented: tensor with zero element"
    %r = arith.divf %a, %s : f32
    linalg.yield %r : f32
  } -> tensor<8xf32>
  return %0 : tensor<8xf32>
}

// A symbolic batch: torch-mlir checks at run time that the two `?` sizes agree (a
// cf.assert on tensor.dim values, which it writes only for symbolic sizes); that check
// stays, and the per-element zero check in the body goes as in the static case.
// CHECK-LABEL: func.func @symbolic
// CHECK: %[[N:.*]] = tensor.dim %{{.*}}, %{{.*}} : tensor<?x8xf32>
// CHECK: %[[M:.*]] = tensor.dim %{{.*}}, %{{.*}} : tensor<?x8xf32>
// CHECK: %[[SAME:.*]] = arith.cmpi eq, %[[N]], %[[M]] : index
// CHECK: cf.assert %[[SAME]], "mismatched size for broadcast"
// CHECK: linalg.generic
// CHECK-NOT: cf.assert
// CHECK: arith.divf
// CHECK: return
func.func @symbolic(%x: tensor<?x8xf32>, %var: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %zero = arith.constant 0.0 : f32
  %c0 = arith.constant 0 : index
  %n = tensor.dim %x, %c0 : tensor<?x8xf32>
  %m = tensor.dim %var, %c0 : tensor<?x8xf32>
  %same = arith.cmpi eq, %n, %m : index
  cf.assert %same, "mismatched size for broadcast"
  %init = tensor.empty(%n) : tensor<?x8xf32>
  %0 = linalg.generic {indexing_maps = [#m2, #m2, #m2], iterator_types = ["parallel", "parallel"]} ins(%x, %var : tensor<?x8xf32>, tensor<?x8xf32>) outs(%init : tensor<?x8xf32>) {
  ^bb0(%a: f32, %v: f32, %o: f32):
    %s = math.sqrt %v : f32
    %nz = arith.cmpf one, %s, %zero : f32
    cf.assert %nz, "unimplemented: tensor with zero element"
    %r = arith.divf %a, %s : f32
    linalg.yield %r : f32
  } -> tensor<?x8xf32>
  return %0 : tensor<?x8xf32>
}
