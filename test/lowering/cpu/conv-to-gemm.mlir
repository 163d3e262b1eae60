// RUN: mlirfuse-opt %s --pass-pipeline='builtin.module(mlirfuse-conv-to-gemm)' | FileCheck %s

// A 3x3 convolution of 4 channels into 8 becomes the gather of each output pixel's
// 4*3*3 inputs into a column ([n, 36, 16]) and a contraction of the [8, 36] filters
// with the columns: mul + add, every map a projection (a BLAS call later).
// CHECK-LABEL: func.func @conv
// CHECK-NOT: linalg.conv_2d
// CHECK: %[[COL:.*]] = linalg.generic {{.*}} ins(%{{.*}} : tensor<2x4x6x6xf32>) outs(%{{.*}} : tensor<2x36x16xf32>)
// CHECK-NEXT: ^bb0
// CHECK-NEXT: linalg.yield
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "parallel", "reduction"]
// CHECK-SAME: ins(%{{.*}}, %[[COL]] : tensor<8x36xf32>, tensor<2x36x16xf32>)
// CHECK-NEXT: ^bb0
// CHECK-NEXT: arith.mulf
// CHECK-NEXT: arith.addf
func.func @conv(%x: tensor<2x4x6x6xf32>, %w: tensor<8x4x3x3xf32>, %acc: tensor<2x8x4x4xf32>) -> tensor<2x8x4x4xf32> {
  %0 = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>} ins(%x, %w : tensor<2x4x6x6xf32>, tensor<8x4x3x3xf32>) outs(%acc : tensor<2x8x4x4xf32>) -> tensor<2x8x4x4xf32>
  return %0 : tensor<2x8x4x4xf32>
}

// Depthwise convolutions stay.
// CHECK-LABEL: func.func @depthwise
// CHECK: linalg.depthwise_conv_2d_nhwc_hwc
func.func @depthwise(%x: tensor<1x6x6x4xf32>, %w: tensor<3x3x4xf32>, %acc: tensor<1x4x4x4xf32>) -> tensor<1x4x4x4xf32> {
  %0 = linalg.depthwise_conv_2d_nhwc_hwc {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>} ins(%x, %w : tensor<1x6x6x4xf32>, tensor<3x3x4xf32>) outs(%acc : tensor<1x4x4x4xf32>) -> tensor<1x4x4x4xf32>
  return %0 : tensor<1x4x4x4xf32>
}

// Symbolic sizes: a batch of symbolic size (tensor<?x4x6x6xf32>, the accumulator a
// fill of a tensor.empty of the tensor.dim) and an image of symbolic height and width.
// Left alone, as the pass's docstring says: upstream's im2col rewrites static shapes
// only, so the transform fails and each convolution stays as it was (no gather, no
// contraction), and the output verifies.
// CHECK-LABEL: func.func @conv_symbolic_batch
// CHECK: %[[D:.*]] = tensor.dim %{{.*}}, %{{.*}} : tensor<?x4x6x6xf32>
// CHECK: tensor.empty(%[[D]]) : tensor<?x8x4x4xf32>
// CHECK-NOT: linalg.generic
// CHECK: linalg.conv_2d_nchw_fchw {{.*}} ins(%{{.*}}, %{{.*}} : tensor<?x4x6x6xf32>, tensor<8x4x3x3xf32>) outs(%{{.*}} : tensor<?x8x4x4xf32>)
// CHECK-NOT: linalg.generic
// CHECK-LABEL: func.func @conv_symbolic_image
// CHECK-NOT: linalg.generic
// CHECK: linalg.conv_2d_nhwc_hwcf {{.*}} ins(%{{.*}}, %{{.*}} : tensor<1x?x?x4xf32>, tensor<3x3x4x8xf32>) outs(%{{.*}} : tensor<1x?x?x8xf32>)
// CHECK-NOT: linalg.generic
// CHECK: return
func.func @conv_symbolic_batch(%x: tensor<?x4x6x6xf32>, %w: tensor<8x4x3x3xf32>) -> tensor<?x8x4x4xf32> {
  %c0 = arith.constant 0 : index
  %zero = arith.constant 0.0 : f32
  %n = tensor.dim %x, %c0 : tensor<?x4x6x6xf32>
  %e = tensor.empty(%n) : tensor<?x8x4x4xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%e : tensor<?x8x4x4xf32>) -> tensor<?x8x4x4xf32>
  %0 = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>} ins(%x, %w : tensor<?x4x6x6xf32>, tensor<8x4x3x3xf32>) outs(%acc : tensor<?x8x4x4xf32>) -> tensor<?x8x4x4xf32>
  return %0 : tensor<?x8x4x4xf32>
}
func.func @conv_symbolic_image(%x: tensor<1x?x?x4xf32>, %w: tensor<3x3x4x8xf32>, %acc: tensor<1x?x?x8xf32>) -> tensor<1x?x?x8xf32> {
  %0 = linalg.conv_2d_nhwc_hwcf {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>} ins(%x, %w : tensor<1x?x?x4xf32>, tensor<3x3x4x8xf32>) outs(%acc : tensor<1x?x?x8xf32>) -> tensor<1x?x?x8xf32>
  return %0 : tensor<1x?x?x8xf32>
}
