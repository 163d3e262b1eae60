// RUN: mlirfuse-opt %s --pass-pipeline='builtin.module(mlirfuse-recompute-pointwise)' | FileCheck %s

#id = affine_map<(d0, d1) -> (d0, d1)>
#row = affine_map<(d0, d1) -> (d0)>
#col = affine_map<(d0, d1) -> (d1)>

// layer_norm's backward: x_hat = (x - m) * r, read by a row reduction and by a column
// reduction: each reader gets its own copy (one full input: no more traffic than
// reading x_hat), placed before the original.
// CHECK-LABEL: func.func @x_hat
// CHECK: %[[C:.*]] = linalg.generic {{.*}} ins(%arg0, %arg1, %arg2 : {{.*}})
// CHECK: %[[X:.*]] = linalg.generic {{.*}} ins(%arg0, %arg1, %arg2 : {{.*}})
// CHECK: linalg.generic {{.*}} ins(%[[C]], %arg3 : {{.*}}) outs(%{{.*}} : tensor<4xf32>)
// CHECK: linalg.generic {{.*}} ins(%arg3, %[[X]] : {{.*}}) outs(%{{.*}} : tensor<8xf32>)
func.func @x_hat(%x: tensor<4x8xf32>, %m: tensor<4xf32>, %r: tensor<4xf32>, %dy: tensor<4x8xf32>) -> (tensor<4xf32>, tensor<8xf32>) {
  %e = tensor.empty() : tensor<4x8xf32>
  %zr = tensor.empty() : tensor<4xf32>
  %zc = tensor.empty() : tensor<8xf32>
  %xh = linalg.generic {indexing_maps = [#id, #row, #row, #id], iterator_types = ["parallel", "parallel"]} ins(%x, %m, %r : tensor<4x8xf32>, tensor<4xf32>, tensor<4xf32>) outs(%e : tensor<4x8xf32>) {
  ^bb0(%a: f32, %b: f32, %c: f32, %out: f32):
    %0 = arith.subf %a, %b : f32
    %1 = arith.mulf %0, %c : f32
    linalg.yield %1 : f32
  } -> tensor<4x8xf32>
  %s = linalg.generic {indexing_maps = [#id, #id, #row], iterator_types = ["parallel", "reduction"]} ins(%xh, %dy : tensor<4x8xf32>, tensor<4x8xf32>) outs(%zr : tensor<4xf32>) {
  ^bb0(%a: f32, %b: f32, %out: f32):
    %0 = arith.mulf %a, %b : f32
    %1 = arith.addf %0, %out : f32
    linalg.yield %1 : f32
  } -> tensor<4xf32>
  %dw = linalg.generic {indexing_maps = [#id, #id, #col], iterator_types = ["reduction", "parallel"]} ins(%dy, %xh : tensor<4x8xf32>, tensor<4x8xf32>) outs(%zc : tensor<8xf32>) {
  ^bb0(%a: f32, %b: f32, %out: f32):
    %0 = arith.mulf %a, %b : f32
    %1 = arith.addf %0, %out : f32
    linalg.yield %1 : f32
  } -> tensor<8xf32>
  return %s, %dw : tensor<4xf32>, tensor<8xf32>
}

// Not copied: a value also returned (it is written anyway; fuse-multi-use merges it into
// a reader), a math call (an exp per reader is not free on the CPU), and an op reading
// two full tensors for three readers (3 * 2 reads against 2 + 1 + 3).
// CHECK-LABEL: func.func @kept
// CHECK-COUNT-7: linalg.generic
// CHECK-NOT: linalg.generic
func.func @kept(%x: tensor<4x8xf32>, %y: tensor<4x8xf32>) -> (tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>) {
  %e = tensor.empty() : tensor<4x8xf32>
  %ex = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]} ins(%x : tensor<4x8xf32>) outs(%e : tensor<4x8xf32>) {
  ^bb0(%a: f32, %out: f32):
    %0 = math.exp %a : f32
    linalg.yield %0 : f32
  } -> tensor<4x8xf32>
  %xy = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel"]} ins(%x, %y : tensor<4x8xf32>, tensor<4x8xf32>) outs(%e : tensor<4x8xf32>) {
  ^bb0(%a: f32, %b: f32, %out: f32):
    %0 = arith.mulf %a, %b : f32
    linalg.yield %0 : f32
  } -> tensor<4x8xf32>
  %u1 = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel"]} ins(%ex, %xy : tensor<4x8xf32>, tensor<4x8xf32>) outs(%e : tensor<4x8xf32>) {
  ^bb0(%a: f32, %b: f32, %out: f32):
    %0 = arith.addf %a, %b : f32
    linalg.yield %0 : f32
  } -> tensor<4x8xf32>
  %u2 = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel"]} ins(%ex, %xy : tensor<4x8xf32>, tensor<4x8xf32>) outs(%e : tensor<4x8xf32>) {
  ^bb0(%a: f32, %b: f32, %out: f32):
    %0 = arith.subf %a, %b : f32
    linalg.yield %0 : f32
  } -> tensor<4x8xf32>
  %u3 = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]} ins(%xy : tensor<4x8xf32>) outs(%e : tensor<4x8xf32>) {
  ^bb0(%a: f32, %out: f32):
    %0 = arith.negf %a : f32
    linalg.yield %0 : f32
  } -> tensor<4x8xf32>
  %r = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]} ins(%x : tensor<4x8xf32>) outs(%e : tensor<4x8xf32>) {
  ^bb0(%a: f32, %out: f32):
    %0 = arith.negf %a : f32
    linalg.yield %0 : f32
  } -> tensor<4x8xf32>
  %r2 = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]} ins(%r : tensor<4x8xf32>) outs(%e : tensor<4x8xf32>) {
  ^bb0(%a: f32, %out: f32):
    %0 = arith.addf %a, %a : f32
    linalg.yield %0 : f32
  } -> tensor<4x8xf32>
  return %u1, %u2, %u3, %r : tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>
}

// layer_norm's backward over a symbolic number of rows: x_hat = (x - m) * r over
// tensor<?x512xf32>, its inits and the row reduction's sized by tensor.dim. Each reader
// still gets its own copy (same operands, so the same symbolic sizes), placed before
// the original: the row reduction reads the copy, the column reduction the original.
// CHECK-LABEL: func.func @x_hat_dynamic_rows
// CHECK: %[[C:.*]] = linalg.generic {{.*}} ins(%arg0, %arg1, %arg2 : tensor<?x512xf32>, tensor<?xf32>, tensor<?xf32>) outs(%{{.*}} : tensor<?x512xf32>)
// CHECK: %[[X:.*]] = linalg.generic {{.*}} ins(%arg0, %arg1, %arg2 : tensor<?x512xf32>, tensor<?xf32>, tensor<?xf32>) outs(%{{.*}} : tensor<?x512xf32>)
// CHECK: linalg.generic {{.*}} ins(%[[C]], %arg3 : tensor<?x512xf32>, tensor<?x512xf32>) outs(%{{.*}} : tensor<?xf32>)
// CHECK: linalg.generic {{.*}} ins(%arg3, %[[X]] : tensor<?x512xf32>, tensor<?x512xf32>) outs(%{{.*}} : tensor<512xf32>)
func.func @x_hat_dynamic_rows(%x: tensor<?x512xf32>, %m: tensor<?xf32>, %r: tensor<?xf32>, %dy: tensor<?x512xf32>) -> (tensor<?xf32>, tensor<512xf32>) {
  %c0 = arith.constant 0 : index
  %n = tensor.dim %x, %c0 : tensor<?x512xf32>
  %e = tensor.empty(%n) : tensor<?x512xf32>
  %zr = tensor.empty(%n) : tensor<?xf32>
  %zc = tensor.empty() : tensor<512xf32>
  %xh = linalg.generic {indexing_maps = [#id, #row, #row, #id], iterator_types = ["parallel", "parallel"]} ins(%x, %m, %r : tensor<?x512xf32>, tensor<?xf32>, tensor<?xf32>) outs(%e : tensor<?x512xf32>) {
  ^bb0(%a: f32, %b: f32, %c: f32, %out: f32):
    %0 = arith.subf %a, %b : f32
    %1 = arith.mulf %0, %c : f32
    linalg.yield %1 : f32
  } -> tensor<?x512xf32>
  %s = linalg.generic {indexing_maps = [#id, #id, #row], iterator_types = ["parallel", "reduction"]} ins(%xh, %dy : tensor<?x512xf32>, tensor<?x512xf32>) outs(%zr : tensor<?xf32>) {
  ^bb0(%a: f32, %b: f32, %out: f32):
    %0 = arith.mulf %a, %b : f32
    %1 = arith.addf %0, %out : f32
    linalg.yield %1 : f32
  } -> tensor<?xf32>
  %dw = linalg.generic {indexing_maps = [#id, #id, #col], iterator_types = ["reduction", "parallel"]} ins(%dy, %xh : tensor<?x512xf32>, tensor<?x512xf32>) outs(%zc : tensor<512xf32>) {
  ^bb0(%a: f32, %b: f32, %out: f32):
    %0 = arith.mulf %a, %b : f32
    %1 = arith.addf %0, %out : f32
    linalg.yield %1 : f32
  } -> tensor<512xf32>
  return %s, %dw : tensor<?xf32>, tensor<512xf32>
}
