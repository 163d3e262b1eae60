// RUN: mlirfuse-opt %s --pass-pipeline='builtin.module(mlirfuse-form-fusion-groups, mlirfuse-outline-fusion-groups, mlirfuse-tile-kernels{exact=true}, canonicalize)' | FileCheck %s
// RUN: mlirfuse-opt %s --pass-pipeline='builtin.module(mlirfuse-form-fusion-groups, mlirfuse-outline-fusion-groups, mlirfuse-tile-kernels, canonicalize)' | FileCheck %s --check-prefix=CPU

#m = affine_map<(d0) -> (d0)>

// With `exact` (the GPU), every tile has one static size: 3000 elements are 3 tiles of
// 1000; 4099 (a prime) is one tile of 4099. Without it (the CPU), tiles are 1024
// elements and the last one is shorter (a dynamic size).
// CHECK-LABEL: func.func private @kernel_0
// CHECK: scf.forall (%{{.*}}) in (3)
// CHECK: tensor.extract_slice {{.*}} [1000] [1] : tensor<3000xf32> to tensor<1000xf32>
// CHECK-LABEL: func.func private @kernel_1
// CHECK-NOT: tensor<?xf32>
// CHECK: math.exp {{.*}} : f32
// CHECK: return {{.*}} : tensor<4099xf32>
// CPU-LABEL: func.func private @kernel_0
// CPU: scf.forall (%{{.*}}) in (3)
// CPU: tensor<?xf32>
func.func @f(%x: tensor<3000xf32>, %y: tensor<4099xf32>) -> (tensor<3000xf32>, tensor<4099xf32>) {
  %e0 = tensor.empty() : tensor<3000xf32>
  %0 = linalg.generic {indexing_maps = [#m, #m], iterator_types = ["parallel"]} ins(%x : tensor<3000xf32>) outs(%e0 : tensor<3000xf32>) {
  ^bb0(%a: f32, %o: f32):
    %r = math.exp %a : f32
    linalg.yield %r : f32
  } -> tensor<3000xf32>
  %e1 = tensor.empty() : tensor<4099xf32>
  %1 = linalg.generic {indexing_maps = [#m, #m], iterator_types = ["parallel"]} ins(%y : tensor<4099xf32>) outs(%e1 : tensor<4099xf32>) {
  ^bb0(%a: f32, %o: f32):
    %r = math.exp %a : f32
    linalg.yield %r : f32
  } -> tensor<4099xf32>
  return %0, %1 : tensor<3000xf32>, tensor<4099xf32>
}

#m4 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>

// One op over rows of 28 (NCHW images): with `exact` it stays untiled (the GPU runs it as
// one launch over all elements; a block per 28-element row was 10x slower); the CPU
// still tiles it by rows. Rows of 256 are tiled on both.
// CHECK-LABEL: func.func private @kernel_2
// CHECK-NOT: scf.forall
// CHECK: return {{.*}} : tensor<4x8x28x28xf32>
// CHECK-LABEL: func.func private @kernel_3
// CHECK: scf.forall (%{{.*}}, %{{.*}}, %{{.*}}) in (4, 8, 2)
// CPU-LABEL: func.func private @kernel_2
// CPU: scf.forall (%{{.*}}, %{{.*}}, %{{.*}}) in (4, 8, 28)
func.func @short_rows(%x: tensor<4x8x28x28xf32>, %y: tensor<4x8x2x256xf32>) -> (tensor<4x8x28x28xf32>, tensor<4x8x2x256xf32>) {
  %e0 = tensor.empty() : tensor<4x8x28x28xf32>
  %0 = linalg.generic {indexing_maps = [#m4, #m4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%x : tensor<4x8x28x28xf32>) outs(%e0 : tensor<4x8x28x28xf32>) {
  ^bb0(%a: f32, %o: f32):
    %r = math.exp %a : f32
    linalg.yield %r : f32
  } -> tensor<4x8x28x28xf32>
  %e1 = tensor.empty() : tensor<4x8x2x256xf32>
  %1 = linalg.generic {indexing_maps = [#m4, #m4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%y : tensor<4x8x2x256xf32>) outs(%e1 : tensor<4x8x2x256xf32>) {
  ^bb0(%a: f32, %o: f32):
    %r = math.exp %a : f32
    linalg.yield %r : f32
  } -> tensor<4x8x2x256xf32>
  return %0, %1 : tensor<4x8x28x28xf32>, tensor<4x8x2x256xf32>
}
