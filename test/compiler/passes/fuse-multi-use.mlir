// RUN: mlirfuse-opt %s --pass-pipeline='builtin.module(mlirfuse-fuse-multi-use)' | FileCheck %s

#id = affine_map<(d0, d1) -> (d0, d1)>
#t = affine_map<(d0, d1) -> (d1, d0)>
#row = affine_map<(d0, d1) -> (d0)>

// The LSTM's cy = f * cx + i * g, returned and read by hy = o * tanh(cy): one generic
// yielding cy, then hy, computed from the cy it just computed.
// CHECK-LABEL: func.func @cell
// CHECK: %[[R:.*]]:2 = linalg.generic {{.*}} ins(%arg0, %arg1, %arg2 : {{.*}}) outs(%{{.*}}, %{{.*}} : tensor<4x8xf32>, tensor<4x8xf32>)
// CHECK-NEXT: ^bb0(%[[F:.*]]: f32, %[[CX:.*]]: f32, %[[O:.*]]: f32, %{{.*}}: f32, %{{.*}}: f32):
// CHECK-NEXT: %[[CY:.*]] = arith.mulf %[[F]], %[[CX]] : f32
// CHECK-NEXT: %[[T:.*]] = math.tanh %[[CY]] : f32
// CHECK-NEXT: %[[HY:.*]] = arith.mulf %[[O]], %[[T]] : f32
// CHECK-NEXT: linalg.yield %[[CY]], %[[HY]] : f32, f32
// CHECK-NOT: linalg.generic
// CHECK: return %[[R]]#1, %[[R]]#0
func.func @cell(%f: tensor<4x8xf32>, %cx: tensor<4x8xf32>, %o: tensor<4x8xf32>) -> (tensor<4x8xf32>, tensor<4x8xf32>) {
  %e = tensor.empty() : tensor<4x8xf32>
  %cy = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel"]} ins(%f, %cx : tensor<4x8xf32>, tensor<4x8xf32>) outs(%e : tensor<4x8xf32>) {
  ^bb0(%a: f32, %b: f32, %out: f32):
    %0 = arith.mulf %a, %b : f32
    linalg.yield %0 : f32
  } -> tensor<4x8xf32>
  %hy = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel"]} ins(%o, %cy : tensor<4x8xf32>, tensor<4x8xf32>) outs(%e : tensor<4x8xf32>) {
  ^bb0(%a: f32, %c: f32, %out: f32):
    %0 = math.tanh %c : f32
    %1 = arith.mulf %a, %0 : f32
    linalg.yield %1 : f32
  } -> tensor<4x8xf32>
  return %hy, %cy : tensor<4x8xf32>, tensor<4x8xf32>
}

// P's other user comes between P and C: the merged op takes P's place (C reads only
// arguments besides P's result), and the other user reads its first result.
// CHECK-LABEL: func.func @other_user_first
// CHECK: %[[R:.*]]:2 = linalg.generic {{.*}} ins(%arg0, %arg1 : {{.*}})
// CHECK: %[[U:.*]] = linalg.generic {{.*}} ins(%[[R]]#0 : tensor<4x8xf32>) outs(%{{.*}} : tensor<8x4xf32>)
// CHECK: return %[[U]], %[[R]]#1
func.func @other_user_first(%x: tensor<4x8xf32>, %y: tensor<4x8xf32>) -> (tensor<8x4xf32>, tensor<4x8xf32>) {
  %e = tensor.empty() : tensor<4x8xf32>
  %et = tensor.empty() : tensor<8x4xf32>
  %p = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]} ins(%x : tensor<4x8xf32>) outs(%e : tensor<4x8xf32>) {
  ^bb0(%a: f32, %out: f32):
    %0 = math.exp %a : f32
    linalg.yield %0 : f32
  } -> tensor<4x8xf32>
  %u = linalg.generic {indexing_maps = [#t, #id], iterator_types = ["parallel", "parallel"]} ins(%p : tensor<4x8xf32>) outs(%et : tensor<8x4xf32>) {
  ^bb0(%a: f32, %out: f32):
    linalg.yield %a : f32
  } -> tensor<8x4xf32>
  %c = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel"]} ins(%p, %y : tensor<4x8xf32>, tensor<4x8xf32>) outs(%e : tensor<4x8xf32>) {
  ^bb0(%a: f32, %b: f32, %out: f32):
    %0 = arith.addf %a, %b : f32
    linalg.yield %0 : f32
  } -> tensor<4x8xf32>
  return %u, %c : tensor<8x4xf32>, tensor<4x8xf32>
}

// The consumer reads P transposed: C's point (i, j) needs P's (j, i), which the merged
// op would not have computed yet. Two ops stay.
// CHECK-LABEL: func.func @transposed_read
// CHECK: %[[P:.*]] = linalg.generic {{.*}} ins(%arg0 : tensor<8x8xf32>)
// CHECK: %[[C:.*]] = linalg.generic {{.*}} ins(%[[P]] : tensor<8x8xf32>)
// CHECK: return %[[C]], %[[P]]
func.func @transposed_read(%x: tensor<8x8xf32>) -> (tensor<8x8xf32>, tensor<8x8xf32>) {
  %e = tensor.empty() : tensor<8x8xf32>
  %p = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]} ins(%x : tensor<8x8xf32>) outs(%e : tensor<8x8xf32>) {
  ^bb0(%a: f32, %out: f32):
    %0 = math.exp %a : f32
    linalg.yield %0 : f32
  } -> tensor<8x8xf32>
  %c = linalg.generic {indexing_maps = [#t, #id], iterator_types = ["parallel", "parallel"]} ins(%p : tensor<8x8xf32>) outs(%e : tensor<8x8xf32>) {
  ^bb0(%a: f32, %out: f32):
    %0 = math.tanh %a : f32
    linalg.yield %0 : f32
  } -> tensor<8x8xf32>
  return %c, %p : tensor<8x8xf32>, tensor<8x8xf32>
}

// Softmax's e = exp(x) feeds its row sum s and e / s: the division needs s, which needs
// all of e first. Merging e into the division would make the op its own ancestor.
// CHECK-LABEL: func.func @needs_a_sum_of_itself
// CHECK: %[[E:.*]] = linalg.generic {{.*}} ins(%arg0 : tensor<4x8xf32>)
// CHECK: %[[S:.*]] = linalg.generic {{.*}} ins(%[[E]] : tensor<4x8xf32>)
// CHECK: linalg.generic {{.*}} ins(%[[E]], %[[S]] : tensor<4x8xf32>, tensor<4xf32>)
func.func @needs_a_sum_of_itself(%x: tensor<4x8xf32>, %zero: tensor<4xf32>) -> tensor<4x8xf32> {
  %e0 = tensor.empty() : tensor<4x8xf32>
  %e = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]} ins(%x : tensor<4x8xf32>) outs(%e0 : tensor<4x8xf32>) {
  ^bb0(%a: f32, %out: f32):
    %0 = math.exp %a : f32
    linalg.yield %0 : f32
  } -> tensor<4x8xf32>
  %s = linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "reduction"]} ins(%e : tensor<4x8xf32>) outs(%zero : tensor<4xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %0 = arith.addf %acc, %a : f32
    linalg.yield %0 : f32
  } -> tensor<4xf32>
  %r = linalg.generic {indexing_maps = [#id, #row, #id], iterator_types = ["parallel", "parallel"]} ins(%e, %s : tensor<4x8xf32>, tensor<4xf32>) outs(%e0 : tensor<4x8xf32>) {
  ^bb0(%a: f32, %b: f32, %out: f32):
    %0 = arith.divf %a, %b : f32
    linalg.yield %0 : f32
  } -> tensor<4x8xf32>
  return %r : tensor<4x8xf32>
}

// A producer of eight results and its consumer would make nine: more than one fusion
// group returns (MAX_GROUP_OUTPUTS), so form-fusion-groups could make no kernel of it.
// CHECK-LABEL: func.func @too_many_results
// CHECK: %[[P:.*]]:8 = linalg.generic
// CHECK: linalg.generic {{.*}} ins(%[[P]]#0 : tensor<8xf32>)
func.func @too_many_results(%x: tensor<8xf32>) -> (tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>) {
  %e = tensor.empty() : tensor<8xf32>
  %p:8 = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]} ins(%x : tensor<8xf32>) outs(%e, %e, %e, %e, %e, %e, %e, %e : tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>) {
  ^bb0(%a: f32, %o0: f32, %o1: f32, %o2: f32, %o3: f32, %o4: f32, %o5: f32, %o6: f32, %o7: f32):
    %0 = math.exp %a : f32
    %1 = math.tanh %a : f32
    %2 = arith.negf %a : f32
    %3 = math.absf %a : f32
    %4 = math.sqrt %a : f32
    %5 = math.log %a : f32
    %6 = math.sin %a : f32
    %7 = math.cos %a : f32
    linalg.yield %0, %1, %2, %3, %4, %5, %6, %7 : f32, f32, f32, f32, f32, f32, f32, f32
  } -> (tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>)
  %c = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]} ins(%p#0 : tensor<8xf32>) outs(%e : tensor<8xf32>) {
  ^bb0(%a: f32, %out: f32):
    %0 = math.sqrt %a : f32
    linalg.yield %0 : f32
  } -> tensor<8xf32>
  return %c, %p#0, %p#1, %p#2, %p#3, %p#4, %p#5, %p#6, %p#7 : tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>
}

// The LSTM's cell with a symbolic batch: cy and hy over tensor<?x16xf32>, their inits
// one tensor.empty sized by tensor.dim. They merge as in @cell: one generic over the
// same symbolic loops yielding cy, then hy, both results still tensor<?x16xf32>.
// CHECK-LABEL: func.func @cell_dynamic_batch
// CHECK: %[[N:.*]] = tensor.dim %arg0, %{{.*}} : tensor<?x16xf32>
// CHECK: %[[E:.*]] = tensor.empty(%[[N]]) : tensor<?x16xf32>
// CHECK: %[[R:.*]]:2 = linalg.generic {{.*}} ins(%arg0, %arg1, %arg2 : tensor<?x16xf32>, tensor<?x16xf32>, tensor<?x16xf32>) outs(%[[E]], %[[E]] : tensor<?x16xf32>, tensor<?x16xf32>)
// CHECK-NEXT: ^bb0(%[[F:.*]]: f32, %[[CX:.*]]: f32, %[[O:.*]]: f32, %{{.*}}: f32, %{{.*}}: f32):
// CHECK-NEXT: %[[CY:.*]] = arith.mulf %[[F]], %[[CX]] : f32
// CHECK-NEXT: %[[T:.*]] = math.tanh %[[CY]] : f32
// CHECK-NEXT: %[[HY:.*]] = arith.mulf %[[O]], %[[T]] : f32
// CHECK-NEXT: linalg.yield %[[CY]], %[[HY]] : f32, f32
// CHECK-NEXT: } -> (tensor<?x16xf32>, tensor<?x16xf32>)
// CHECK-NOT: linalg.generic
// CHECK: return %[[R]]#1, %[[R]]#0 : tensor<?x16xf32>, tensor<?x16xf32>
func.func @cell_dynamic_batch(%f: tensor<?x16xf32>, %cx: tensor<?x16xf32>, %o: tensor<?x16xf32>) -> (tensor<?x16xf32>, tensor<?x16xf32>) {
  %c0 = arith.constant 0 : index
  %n = tensor.dim %f, %c0 : tensor<?x16xf32>
  %e = tensor.empty(%n) : tensor<?x16xf32>
  %cy = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel"]} ins(%f, %cx : tensor<?x16xf32>, tensor<?x16xf32>) outs(%e : tensor<?x16xf32>) {
  ^bb0(%a: f32, %b: f32, %out: f32):
    %0 = arith.mulf %a, %b : f32
    linalg.yield %0 : f32
  } -> tensor<?x16xf32>
  %hy = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel"]} ins(%o, %cy : tensor<?x16xf32>, tensor<?x16xf32>) outs(%e : tensor<?x16xf32>) {
  ^bb0(%a: f32, %c: f32, %out: f32):
    %0 = math.tanh %c : f32
    %1 = arith.mulf %a, %0 : f32
    linalg.yield %1 : f32
  } -> tensor<?x16xf32>
  return %hy, %cy : tensor<?x16xf32>, tensor<?x16xf32>
}
