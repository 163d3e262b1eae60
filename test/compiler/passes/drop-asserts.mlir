// RUN: mlirfuse-opt %s --pass-pipeline='builtin.module(mlirfuse-drop-asserts)' | FileCheck %s

#m = affine_map<(d0) -> (d0)>

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
