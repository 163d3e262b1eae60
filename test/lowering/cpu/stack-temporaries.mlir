// RUN: mlirfuse-opt %s --pass-pipeline='builtin.module(mlirfuse-stack-temporaries)' | FileCheck %s

// A tile's temporaries in its loop body's alloca scope (an OpenMP iteration): the small
// static ones become allocas, their deallocs go (before: a malloc and free per row, 8192
// a call of rmsnorm). Left alone: one in a loop inside the scope (an alloca there would
// grow the stack per iteration), one over MAX_BYTES, one of dynamic size, and one
// outside any scope.
// CHECK-LABEL: func.func @tile
// CHECK: memref.alloca_scope
// CHECK: %[[SUM:.*]] = memref.alloca() {alignment = 64 : i64} : memref<1xf32>
// CHECK: %[[LANES:.*]] = memref.alloca() {alignment = 64 : i64} : memref<1x16xf32>
// CHECK: memref.store %{{.*}}, %[[SUM]][%{{.*}}] : memref<1xf32>
// CHECK: memref.store %{{.*}}, %[[LANES]][%{{.*}}, %{{.*}}] : memref<1x16xf32>
// CHECK: scf.for
// CHECK: memref.alloc() : memref<4xf32>
// CHECK: memref.dealloc %{{.*}} : memref<4xf32>
// CHECK: memref.alloc() : memref<2048xf32>
// CHECK: memref.alloc(%{{.*}}) : memref<?xf32>
// CHECK-NOT: memref.dealloc %[[SUM]]
// CHECK-NOT: memref.dealloc %[[LANES]]
// CHECK: %[[OUT:.*]] = memref.alloc() : memref<1xf32>
// CHECK: memref.dealloc %[[OUT]] : memref<1xf32>
// CHECK: return
func.func @tile(%n: index, %x: f32) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  memref.alloca_scope {
    %sum = memref.alloc() {alignment = 64 : i64} : memref<1xf32>
    %lanes = memref.alloc() {alignment = 64 : i64} : memref<1x16xf32>
    memref.store %x, %sum[%c0] : memref<1xf32>
    memref.store %x, %lanes[%c0, %c0] : memref<1x16xf32>
    scf.for %i = %c0 to %c4 step %c1 {
      %inner = memref.alloc() : memref<4xf32>
      memref.store %x, %inner[%i] : memref<4xf32>
      memref.dealloc %inner : memref<4xf32>
    }
    %big = memref.alloc() : memref<2048xf32>
    %dyn = memref.alloc(%n) : memref<?xf32>
    memref.store %x, %big[%c0] : memref<2048xf32>
    memref.store %x, %dyn[%c0] : memref<?xf32>
    memref.dealloc %big : memref<2048xf32>
    memref.dealloc %dyn : memref<?xf32>
    memref.dealloc %sum : memref<1xf32>
    memref.dealloc %lanes : memref<1x16xf32>
  }
  %outside = memref.alloc() : memref<1xf32>
  memref.store %x, %outside[%c0] : memref<1xf32>
  memref.dealloc %outside : memref<1xf32>
  return
}
