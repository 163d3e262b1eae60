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
