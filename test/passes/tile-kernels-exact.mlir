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
