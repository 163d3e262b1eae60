// RUN: mlirfuse-opt %s --pass-pipeline='builtin.module(mlirfuse-share-kernels)' | FileCheck %s
// Run again, it finds the kernels' own functions already shared and changes nothing.
// RUN: mlirfuse-opt %s --pass-pipeline='builtin.module(mlirfuse-share-kernels, mlirfuse-share-kernels)' | FileCheck %s

// Two kernels that differ only in their buffers (a transformer's layers) call one
// function; a third, other kernel gets its own. Buffers of static sizes and strides are
// passed as their base and (when symbolic) offset, and viewed again inside; constants
// are copied in. A call of a declared function with more arguments than registers (the
// GEMM's) becomes a call of a function holding it with its constants, taking the rest.
// CHECK-LABEL: func.func @main
// CHECK-SAME: (%[[A:.*]]: memref<8x64xf32>, %[[B:.*]]: memref<8x64xf32>, %[[C:.*]]: memref<8x64xf32>, %[[V:.*]]: memref<8x64xf32, strided<[128, 1], offset: ?>>, %[[P:.*]]: index)
// CHECK: %[[BA:.*]], %{{.*}}, %{{.*}}:2, %{{.*}}:2 = memref.extract_strided_metadata %[[A]]
// CHECK: %[[BB:.*]], %{{.*}}, %{{.*}}:2, %{{.*}}:2 = memref.extract_strided_metadata %[[B]]
// CHECK: call @mlirfuse_kernel_0(%[[BA]], %[[BB]]) : (memref<f32>, memref<f32>) -> ()
// CHECK: %[[BB2:.*]], %{{.*}}, %{{.*}}:2, %{{.*}}:2 = memref.extract_strided_metadata %[[B]]
// CHECK: %[[BC:.*]], %{{.*}}, %{{.*}}:2, %{{.*}}:2 = memref.extract_strided_metadata %[[C]]
// CHECK: call @mlirfuse_kernel_0(%[[BB2]], %[[BC]]) : (memref<f32>, memref<f32>) -> ()
// CHECK: %[[BV:.*]], %[[OFF:.*]], %{{.*}}:2, %{{.*}}:2 = memref.extract_strided_metadata %[[V]]
// CHECK: call @mlirfuse_kernel_1(%{{.*}}, %[[BV]], %[[OFF]]) : (memref<f32>, memref<f32>, index) -> ()
// CHECK: call @mlirfuse_call_0(%[[P]]) : (index) -> ()
// CHECK-NOT: scf.parallel
// CHECK: return
// CHECK: func.func private @mlirfuse_kernel_0(%[[X:.*]]: memref<f32>, %[[Y:.*]]: memref<f32>) attributes {llvm.no_inline, mlirfuse.code = "{{[0-9a-f]+}}"}
// CHECK: %[[XV:.*]] = memref.reinterpret_cast %[[X]] to offset: [0], sizes: [8, 64], strides: [64, 1]
// CHECK: %[[YV:.*]] = memref.reinterpret_cast %[[Y]] to offset: [0], sizes: [8, 64], strides: [64, 1]
// CHECK: arith.constant
// CHECK: scf.parallel
// CHECK: memref.load %[[XV]]
// CHECK: memref.store %{{.*}}, %[[YV]]
// CHECK-NOT: func.func private @mlirfuse_kernel_2
// CHECK: func.func private @mlirfuse_kernel_1({{.*}}: memref<f32>, {{.*}}: memref<f32>, %[[O:.*]]: index)
// CHECK: memref.reinterpret_cast %{{.*}} to offset: [%[[O]]], sizes: [8, 64], strides: [128, 1]
// CHECK: func.func private @mlirfuse_call_0(%[[Q:.*]]: index)
// CHECK-DAG: %[[K:.*]] = arith.constant 64 : i64
// CHECK: call @gemm(%[[K]], %[[K]], %[[K]], %[[K]], %[[K]], %[[K]], %[[Q]])
func.func private @gemm(i64, i64, i64, i64, i64, i64, index)
func.func @main(%a: memref<8x64xf32>, %b: memref<8x64xf32>, %c: memref<8x64xf32>,
                %v: memref<8x64xf32, strided<[128, 1], offset: ?>>, %p: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c8 = arith.constant 8 : index
  %c64 = arith.constant 64 : index
  %zero = arith.constant 0.0 : f32
  %k = arith.constant 64 : i64
  scf.parallel (%i, %j) = (%c0, %c0) to (%c8, %c64) step (%c1, %c1) {
    %x = memref.load %a[%i, %j] : memref<8x64xf32>
    %r = arith.maximumf %x, %zero : f32
    memref.store %r, %b[%i, %j] : memref<8x64xf32>
    scf.reduce
  }
  scf.parallel (%i, %j) = (%c0, %c0) to (%c8, %c64) step (%c1, %c1) {
    %x = memref.load %b[%i, %j] : memref<8x64xf32>
    %r = arith.maximumf %x, %zero : f32
    memref.store %r, %c[%i, %j] : memref<8x64xf32>
    scf.reduce
  }
  scf.parallel (%i, %j) = (%c0, %c0) to (%c8, %c64) step (%c1, %c1) {
    %x = memref.load %c[%i, %j] : memref<8x64xf32>
    %r = arith.addf %x, %x : f32
    memref.store %r, %v[%i, %j] : memref<8x64xf32, strided<[128, 1], offset: ?>>
    scf.reduce
  }
  call @gemm(%k, %k, %k, %k, %k, %k, %p) : (i64, i64, i64, i64, i64, i64, index) -> ()
  return
}
