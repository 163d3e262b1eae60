// RUN: mlirfuse-opt %s --pass-pipeline='builtin.module(mlirfuse-clamp-nan)' | FileCheck %s

// clamp(x, -0.5, 0.5) as torch-mlir lowers it: with constant bounds the compares become
// ordered, so a NaN x is selected through (eager: nan), not the bound.
// CHECK-LABEL: func.func @constant_bounds
// CHECK:         %[[LO:.*]] = arith.cmpf olt, %[[X:.*]], %[[MIN:.*]] : f32
// CHECK-NEXT:    %[[A:.*]] = arith.select %[[LO]], %[[MIN]], %[[X]] : f32
// CHECK:         %[[HI:.*]] = arith.cmpf ogt, %[[A]], %[[MAX:.*]] : f32
// CHECK-NEXT:    arith.select %[[HI]], %[[MAX]], %[[A]] : f32
// CHECK-NOT:     arith.cmpf u
func.func @constant_bounds(%x: f32) -> f32 {
  %min = arith.constant -5.000000e-01 : f32
  %max = arith.constant 5.000000e-01 : f32
  %0 = arith.cmpf ult, %x, %min : f32
  %1 = arith.select %0, %min, %x : f32
  %2 = arith.cmpf ugt, %1, %max : f32
  %3 = arith.select %2, %max, %1 : f32
  return %3 : f32
}

// A bound that may be NaN (a tensor's element) is still taken when it is NaN.
// CHECK-LABEL: func.func @tensor_bound
// CHECK:         %[[O:.*]] = arith.cmpf olt, %arg0, %arg1 : f32
// CHECK-NEXT:    %[[N:.*]] = arith.cmpf uno, %arg1, %arg1 : f32
// CHECK-NEXT:    %[[C:.*]] = arith.ori %[[O]], %[[N]] : i1
// CHECK-NEXT:    arith.select %[[C]], %arg1, %arg0 : f32
func.func @tensor_bound(%x: f32, %lo: f32) -> f32 {
  %0 = arith.cmpf ult, %x, %lo : f32
  %1 = arith.select %0, %lo, %x : f32
  return %1 : f32
}

// A NaN constant bound: NaN whatever x is, as eager.
// CHECK-LABEL: func.func @nan_bound
// CHECK:         arith.cmpf uno
func.func @nan_bound(%x: f32) -> f32 {
  %nan = arith.constant 0x7FC00000 : f32
  %0 = arith.cmpf ult, %x, %nan : f32
  %1 = arith.select %0, %nan, %x : f32
  return %1 : f32
}

// Not a clamp (the select picks other values): left alone.
// CHECK-LABEL: func.func @other_select
// CHECK:         arith.cmpf ult
func.func @other_select(%x: f32, %y: f32, %z: f32) -> f32 {
  %0 = arith.cmpf ult, %x, %y : f32
  %1 = arith.select %0, %z, %x : f32
  return %1 : f32
}

// A clamp over a tensor whose rows are symbolic (batch `?`), in the linalg body
// torch-mlir makes of it, sized by tensor.dim: the pass rewrites scalars in the body,
// so the symbolic shape changes nothing and both compares become ordered.
// CHECK-LABEL: func.func @dynamic_rows
// CHECK:         %[[N:.*]] = tensor.dim %arg0, %{{.*}} : tensor<?x512xf32>
// CHECK:         %[[E:.*]] = tensor.empty(%[[N]]) : tensor<?x512xf32>
// CHECK:         linalg.generic {{.*}} ins(%arg0 : tensor<?x512xf32>) outs(%[[E]] : tensor<?x512xf32>)
// CHECK:         %[[LO:.*]] = arith.cmpf olt, %[[X:.*]], %[[MIN:.*]] : f32
// CHECK-NEXT:    %[[A:.*]] = arith.select %[[LO]], %[[MIN]], %[[X]] : f32
// CHECK-NEXT:    %[[HI:.*]] = arith.cmpf ogt, %[[A]], %[[MAX:.*]] : f32
// CHECK-NEXT:    %[[R:.*]] = arith.select %[[HI]], %[[MAX]], %[[A]] : f32
// CHECK-NEXT:    linalg.yield %[[R]] : f32
// CHECK:         -> tensor<?x512xf32>
// CHECK-NOT:     arith.cmpf u
func.func @dynamic_rows(%x: tensor<?x512xf32>) -> tensor<?x512xf32> {
  %c0 = arith.constant 0 : index
  %min = arith.constant -5.000000e-01 : f32
  %max = arith.constant 5.000000e-01 : f32
  %n = tensor.dim %x, %c0 : tensor<?x512xf32>
  %e = tensor.empty(%n) : tensor<?x512xf32>
  %r = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%x : tensor<?x512xf32>) outs(%e : tensor<?x512xf32>) {
  ^bb0(%in: f32, %out: f32):
    %0 = arith.cmpf ult, %in, %min : f32
    %1 = arith.select %0, %min, %in : f32
    %2 = arith.cmpf ugt, %1, %max : f32
    %3 = arith.select %2, %max, %1 : f32
    linalg.yield %3 : f32
  } -> tensor<?x512xf32>
  return %r : tensor<?x512xf32>
}
