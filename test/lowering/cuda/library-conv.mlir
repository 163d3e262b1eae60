// RUN: mlirfuse-opt %s --pass-pipeline='builtin.module(mlirfuse-library-conv, cse)' | FileCheck %s
// RUN: env MLIRFUSE_CUDNN_SYMBOLIC_BATCH=0 mlirfuse-opt %s --pass-pipeline='builtin.module(mlirfuse-library-conv, cse)' | FileCheck %s --check-prefix=OFF

#x = affine_map<(d0, d1, d2, d3, d4, d5, d6) -> (d0, d4, d2 + d5, d3 + d6)>
#w = affine_map<(d0, d1, d2, d3, d4, d5, d6) -> (d1, d4, d5, d6)>
#y = affine_map<(d0, d1, d2, d3, d4, d5, d6) -> (d0, d1, d2, d3)>
#xs = affine_map<(d0, d1, d2, d3, d4, d5, d6) -> (d0, d4, d2 * 2 + d5 * 3, d3 * 2 + d6 * 3)>
#x1 = affine_map<(d0, d1, d2, d3, d4, d5) -> (d3, d1 + d4, d2 + d5)>
#w1 = affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d3, d4, d5)>
#y1 = affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d1, d2)>
#all = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>

// F.conv2d(x_padded, w) after a zero fill: one call that overwrites y (accumulate 0, the
// last argument), the fill gone. Arguments: dtype 0 (f32); x's pointer, offset, sizes
// n c h w = 8 64 30 30 and strides; w's pointer, offset, f kh kw = 128 3 3; y's pointer,
// offset, oh ow = 28 28 and strides; strides 1 1, dilations 1 1; the workspace (one
// 32 MiB buffer, allocated at the top of the function) and its size.
// CHECK-LABEL: func.func private @mlirfuse_conv2d(i32, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i32)
// CHECK-LABEL: func.func @conv
// CHECK: %[[WS:.*]] = memref.alloc() : memref<33554432xi8>
// CHECK-NOT: linalg.fill
// CHECK-DAG: %[[OVERWRITE:.*]] = arith.constant 0 : i32
// CHECK-DAG: %[[C8:.*]] = arith.constant 8 : i64
// CHECK-DAG: %[[C64:.*]] = arith.constant 64 : i64
// CHECK-DAG: %[[C30:.*]] = arith.constant 30 : i64
// CHECK-DAG: %[[C57600:.*]] = arith.constant 57600 : i64
// CHECK-DAG: %[[C900:.*]] = arith.constant 900 : i64
// CHECK-DAG: %[[C128:.*]] = arith.constant 128 : i64
// CHECK-DAG: %[[C3:.*]] = arith.constant 3 : i64
// CHECK-DAG: %[[C28:.*]] = arith.constant 28 : i64
// CHECK-DAG: %[[C1:.*]] = arith.constant 1 : i64
// CHECK-DAG: %[[BYTES:.*]] = arith.constant 33554432 : i64
// CHECK: call @mlirfuse_conv2d(%{{.*}}, %{{.*}}, %{{.*}}, %[[C8]], %[[C64]], %[[C30]], %[[C30]], %[[C57600]], %[[C900]], %[[C30]], %[[C1]], %{{.*}}, %{{.*}}, %[[C128]], %[[C3]], %[[C3]], %{{.*}}, %{{.*}}, %[[C28]], %[[C28]], %{{.*}}, %{{.*}}, %[[C28]], %[[C1]], %[[C1]], %[[C1]], %[[C1]], %[[C1]], %{{.*}}, %[[BYTES]], %[[OVERWRITE]])
// CHECK-NOT: linalg.generic
func.func @conv(%x: memref<8x64x30x30xf32>, %w: memref<128x64x3x3xf32>, %y: memref<8x128x28x28xf32>) attributes {mlirfuse.abi} {
  %zero = arith.constant 0.0 : f32
  linalg.fill ins(%zero : f32) outs(%y : memref<8x128x28x28xf32>)
  linalg.generic {indexing_maps = [#x, #w, #y], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction", "reduction", "reduction"]} ins(%x, %w : memref<8x64x30x30xf32>, memref<128x64x3x3xf32>) outs(%y : memref<8x128x28x28xf32>) {
  ^bb0(%p: f32, %q: f32, %o: f32):
    %1 = arith.mulf %p, %q : f32
    %2 = arith.addf %o, %1 : f32
    linalg.yield %2 : f32
  }
  return
}

// Into y holding the broadcast bias (torch-mlir's form of F.conv2d(x, w, b)), with
// stride 2 and dilation 3, inside the guard's scf.if: the bias copy stays, the call adds
// (last argument 1); two convolutions share one workspace.
// CHECK-LABEL: func.func @bias_strided
// CHECK-COUNT-1: memref.alloc()
// CHECK: scf.if
// CHECK: linalg.generic
// CHECK-DAG: %[[C2:.*]] = arith.constant 2 : i64
// CHECK-DAG: %[[C3:.*]] = arith.constant 3 : i64
// CHECK-DAG: %[[ADD:.*]] = arith.constant 1 : i32
// CHECK: call @mlirfuse_conv2d({{.*}}, %[[C2]], %[[C2]], %[[C3]], %[[C3]], %{{.*}}, %{{.*}}, %[[ADD]])
// CHECK: call @mlirfuse_conv2d
// CHECK-NOT: memref.alloc
func.func @bias_strided(%x: memref<2x4x17x17xf32>, %w: memref<5x4x3x3xf32>, %bias: memref<2x5x6x6xf32>, %y: memref<2x5x6x6xf32>, %y2: memref<2x5x6x6xf32>, %ok: i1) attributes {mlirfuse.abi} {
  scf.if %ok {
    linalg.generic {indexing_maps = [#all, #all], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%bias : memref<2x5x6x6xf32>) outs(%y : memref<2x5x6x6xf32>) {
    ^bb0(%p: f32, %o: f32):
      linalg.yield %p : f32
    }
    linalg.generic {indexing_maps = [#xs, #w, #y], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction", "reduction", "reduction"]} ins(%x, %w : memref<2x4x17x17xf32>, memref<5x4x3x3xf32>) outs(%y : memref<2x5x6x6xf32>) {
    ^bb0(%p: f32, %q: f32, %o: f32):
      %1 = arith.mulf %p, %q : f32
      %2 = arith.addf %o, %1 : f32
      linalg.yield %2 : f32
    }
    linalg.generic {indexing_maps = [#xs, #w, #y], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction", "reduction", "reduction"]} ins(%x, %w : memref<2x4x17x17xf32>, memref<5x4x3x3xf32>) outs(%y2 : memref<2x5x6x6xf32>) {
    ^bb0(%p: f32, %q: f32, %o: f32):
      %1 = arith.mulf %p, %q : f32
      %2 = arith.addf %o, %1 : f32
      linalg.yield %2 : f32
    }
  }
  return
}

// Batch 1 with its loop folded (linalg-fold-unit-extent-dims): n is 1, x's batch stride
// that of a whole image (8 * 10 * 10 = 800), y's 4 * 8 * 8 = 256.
// CHECK-LABEL: func.func @batch_one
// CHECK-DAG: %[[C1:.*]] = arith.constant 1 : i64
// CHECK-DAG: %[[C800:.*]] = arith.constant 800 : i64
// CHECK-DAG: %[[C256:.*]] = arith.constant 256 : i64
// CHECK: call @mlirfuse_conv2d(%{{.*}}, %{{.*}}, %{{.*}}, %[[C1]], %{{.*}}, %{{.*}}, %{{.*}}, %[[C800]], {{.*}}, %[[C256]],
func.func @batch_one(%x: memref<8x10x10xf32>, %w: memref<4x8x3x3xf32>, %y: memref<4x8x8xf32>) attributes {mlirfuse.abi} {
  linalg.generic {indexing_maps = [#x1, #w1, #y1], iterator_types = ["parallel", "parallel", "parallel", "reduction", "reduction", "reduction"]} ins(%x, %w : memref<8x10x10xf32>, memref<4x8x3x3xf32>) outs(%y : memref<4x8x8xf32>) {
  ^bb0(%p: f32, %q: f32, %o: f32):
    %1 = arith.mulf %p, %q : f32
    %2 = arith.addf %o, %1 : f32
    linalg.yield %2 : f32
  }
  return
}

// Left alone: integer convolutions (no cuDNN type), and a filter that is not contiguous
// (a transposed view).
// CHECK-LABEL: func.func @left_alone
// CHECK-NOT: call @mlirfuse_conv2d
// CHECK-COUNT-2: linalg.generic
func.func @left_alone(%x: memref<8x64x30x30xi32>, %w: memref<128x64x3x3xi32>, %y: memref<8x128x28x28xi32>, %xf: memref<8x64x30x30xf32>, %wt: memref<128x64x3x3xf32, strided<[1, 128, 24576, 8192]>>, %yf: memref<8x128x28x28xf32>) attributes {mlirfuse.abi} {
  linalg.generic {indexing_maps = [#x, #w, #y], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction", "reduction", "reduction"]} ins(%x, %w : memref<8x64x30x30xi32>, memref<128x64x3x3xi32>) outs(%y : memref<8x128x28x28xi32>) {
  ^bb0(%p: i32, %q: i32, %o: i32):
    %1 = arith.muli %p, %q : i32
    %2 = arith.addi %o, %1 : i32
    linalg.yield %2 : i32
  }
  linalg.generic {indexing_maps = [#x, #w, #y], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction", "reduction", "reduction"]} ins(%xf, %wt : memref<8x64x30x30xf32>, memref<128x64x3x3xf32, strided<[1, 128, 24576, 8192]>>) outs(%yf : memref<8x128x28x28xf32>) {
  ^bb0(%p: f32, %q: f32, %o: f32):
    %1 = arith.mulf %p, %q : f32
    %2 = arith.addf %o, %1 : f32
    linalg.yield %2 : f32
  }
  return
}

// A symbolic batch (x and y memref<?x...>): cuDNN is called with the batch read from
// x per call (memref.dim), every other size static; the fill goes, as for static sizes.
// With MLIRFUSE_CUDNN_SYMBOLIC_BATCH=0 (OFF) it is left alone: the zero fill stays,
// the convolution stays a generic (a kernel), and no workspace is allocated.
// CHECK-LABEL: func.func @symbolic_batch
// CHECK-NOT: linalg.fill
// CHECK: %[[DIM:.*]] = memref.dim %arg0, %c0 : memref<?x64x30x30xf32>
// CHECK: %[[BATCH:.*]] = arith.index_cast %[[DIM]] : index to i64
// CHECK: call @mlirfuse_conv2d(%{{.*}}, %{{.*}}, %{{.*}}, %[[BATCH]], %c64_i64,
// CHECK-NOT: linalg.generic
// CHECK: return
// OFF-LABEL: func.func @symbolic_batch
// OFF-NOT: memref.alloc
// OFF-NOT: call @mlirfuse_conv2d
// OFF: linalg.fill ins(%{{.*}} : f32) outs(%{{.*}} : memref<?x128x28x28xf32>)
// OFF: linalg.generic {{.*}} ins(%{{.*}}, %{{.*}} : memref<?x64x30x30xf32>, memref<128x64x3x3xf32>) outs(%{{.*}} : memref<?x128x28x28xf32>)
// OFF-NOT: call @mlirfuse_conv2d
// OFF: return
func.func @symbolic_batch(%x: memref<?x64x30x30xf32>, %w: memref<128x64x3x3xf32>, %y: memref<?x128x28x28xf32>) attributes {mlirfuse.abi} {
  %zero = arith.constant 0.0 : f32
  linalg.fill ins(%zero : f32) outs(%y : memref<?x128x28x28xf32>)
  linalg.generic {indexing_maps = [#x, #w, #y], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction", "reduction", "reduction"]} ins(%x, %w : memref<?x64x30x30xf32>, memref<128x64x3x3xf32>) outs(%y : memref<?x128x28x28xf32>) {
  ^bb0(%p: f32, %q: f32, %o: f32):
    %1 = arith.mulf %p, %q : f32
    %2 = arith.addf %o, %1 : f32
    linalg.yield %2 : f32
  }
  return
}
