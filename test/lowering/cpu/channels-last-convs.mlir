// RUN: mlirfuse-opt %s --pass-pipeline='builtin.module(mlirfuse-channels-last-convs)' | FileCheck %s

// A CPU convolution's extern call on channels-last buffers: its input transposed to
// [N, H, W, C], its result [N, H, W, C] transposed back, the spec saying so. The ReLU
// feeding the second convolution, also read by the add, is transposed once right after
// it, the add reading it back from there (fused, the ReLU writes channels-last only).
// Left alone: a 3-channel input (ResNet's stem: slower channels-last) and an
// extern call of another op.

// CHECK-LABEL: func.func private @mlirfuse_extern_op_0(tensor<2x8x8x8xf32>, tensor<8x8x3x3xf32>) -> tensor<2x8x8x8xf32>
// CHECK-SAME: nhwc 0\0Anhwc_out 0
// CHECK-LABEL: func.func private @mlirfuse_extern_op_1(tensor<2x8x8x8xf32>, tensor<8x8x3x3xf32>) -> tensor<2x8x8x8xf32>
// CHECK-SAME: nhwc 0\0Anhwc_out 0
// CHECK-LABEL: func.func private @mlirfuse_extern_op_2(tensor<2x3x8x8xf32>, tensor<8x3x3x3xf32>) -> tensor<2x8x8x8xf32>
// CHECK-NOT: nhwc
// CHECK-LABEL: func.func private @mlirfuse_extern_op_3
// CHECK-NOT: nhwc
// CHECK-LABEL: func.func @main
// CHECK: %[[XT:.*]] = linalg.transpose ins(%arg0 : tensor<2x8x8x8xf32>) outs(%{{.*}} : tensor<2x8x8x8xf32>) permutation = [0, 2, 3, 1]
// CHECK: %[[Y:.*]] = call @mlirfuse_extern_op_0(%[[XT]], %arg1)
// CHECK: %[[RELU:.*]] = linalg.generic
// CHECK: %[[RT:.*]] = linalg.transpose ins(%[[RELU]] : {{.*}}) {{.*}} permutation = [0, 2, 3, 1]
// CHECK: %[[BACK:.*]] = linalg.transpose ins(%[[RT]] : {{.*}}) {{.*}} permutation = [0, 3, 1, 2]
// CHECK: %[[Z:.*]] = call @mlirfuse_extern_op_1(%[[RT]], %arg1)
// CHECK: %[[ZN:.*]] = linalg.transpose ins(%[[Z]] : {{.*}}) {{.*}} permutation = [0, 3, 1, 2]
// CHECK: linalg.generic {{.*}} ins(%[[ZN]], %[[BACK]] :
// CHECK: call @mlirfuse_extern_op_2(%arg2, %arg3)
// CHECK: call @mlirfuse_extern_op_3(%arg4)

#map = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
module {
  func.func private @mlirfuse_extern_op_0(tensor<2x8x8x8xf32>, tensor<8x8x3x3xf32>) -> tensor<2x8x8x8xf32> attributes {mlirfuse.extern = "op aten::convolution\0Aoverload \0Adevice cpu\0Ain 6 4\0Ain 6 4\0Aout 6 4\0Aarg T 0\0Aarg T 1\0Aarg N\0Aarg LI 1,1\0Aarg LI 1,1\0Aarg LI 1,1\0Aarg B 0\0Aarg LI 0,0\0Aarg I 1"}
  func.func private @mlirfuse_extern_op_1(tensor<2x8x8x8xf32>, tensor<8x8x3x3xf32>) -> tensor<2x8x8x8xf32> attributes {mlirfuse.extern = "op aten::convolution\0Aoverload \0Adevice cpu\0Ain 6 4\0Ain 6 4\0Aout 6 4\0Aarg T 0\0Aarg T 1\0Aarg N\0Aarg LI 1,1\0Aarg LI 1,1\0Aarg LI 1,1\0Aarg B 0\0Aarg LI 0,0\0Aarg I 1"}
  func.func private @mlirfuse_extern_op_2(tensor<2x3x8x8xf32>, tensor<8x3x3x3xf32>) -> tensor<2x8x8x8xf32> attributes {mlirfuse.extern = "op aten::convolution\0Aoverload \0Adevice cpu\0Ain 6 4\0Ain 6 4\0Aout 6 4\0Aarg T 0\0Aarg T 1\0Aarg N\0Aarg LI 1,1\0Aarg LI 1,1\0Aarg LI 1,1\0Aarg B 0\0Aarg LI 0,0\0Aarg I 1"}
  func.func private @mlirfuse_extern_op_3(tensor<2x8x8x8xf32>) -> tensor<2x8x8x8xf32> attributes {mlirfuse.extern = "op aten::special_zeta\0Aoverload \0Adevice cpu\0Ain 6 4\0Aout 6 4\0Aarg T 0"}
  func.func @main(%x: tensor<2x8x8x8xf32>, %w: tensor<8x8x3x3xf32>, %s: tensor<2x3x8x8xf32>, %ws: tensor<8x3x3x3xf32>, %q: tensor<2x8x8x8xf32>) -> (tensor<2x8x8x8xf32>, tensor<2x8x8x8xf32>, tensor<2x8x8x8xf32>) {
    %cst = arith.constant 0.0 : f32
    %y = call @mlirfuse_extern_op_0(%x, %w) : (tensor<2x8x8x8xf32>, tensor<8x8x3x3xf32>) -> tensor<2x8x8x8xf32>
    %e = tensor.empty() : tensor<2x8x8x8xf32>
    %relu = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%y : tensor<2x8x8x8xf32>) outs(%e : tensor<2x8x8x8xf32>) {
    ^bb0(%in: f32, %out: f32):
      %m = arith.maximumf %in, %cst : f32
      linalg.yield %m : f32
    } -> tensor<2x8x8x8xf32>
    %z = call @mlirfuse_extern_op_1(%relu, %w) : (tensor<2x8x8x8xf32>, tensor<8x8x3x3xf32>) -> tensor<2x8x8x8xf32>
    %sum = linalg.generic {indexing_maps = [#map, #map, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%z, %relu : tensor<2x8x8x8xf32>, tensor<2x8x8x8xf32>) outs(%e : tensor<2x8x8x8xf32>) {
    ^bb0(%a: f32, %b: f32, %out: f32):
      %r = arith.addf %a, %b : f32
      linalg.yield %r : f32
    } -> tensor<2x8x8x8xf32>
    %stem = call @mlirfuse_extern_op_2(%s, %ws) : (tensor<2x3x8x8xf32>, tensor<8x3x3x3xf32>) -> tensor<2x8x8x8xf32>
    %other = call @mlirfuse_extern_op_3(%q) : (tensor<2x8x8x8xf32>) -> tensor<2x8x8x8xf32>
    return %sum, %stem, %other : tensor<2x8x8x8xf32>, tensor<2x8x8x8xf32>, tensor<2x8x8x8xf32>
  }
}
