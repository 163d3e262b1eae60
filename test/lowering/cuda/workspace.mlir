// RUN: mlirfuse-opt %s --pass-pipeline='builtin.module(mlirfuse-workspace)' | FileCheck %s

// Host temporaries become views of one workspace argument, each at a 256-byte aligned
// offset; the size is on the function for the runtime, which allocates it per call.
// Allocations inside a launch (none here) and other functions are left alone.
// CHECK-LABEL: func.func @main
// CHECK-SAME: (%[[X:.*]]: memref<4x16xf32>, %[[WS:.*]]: memref<?xi8>) attributes {mlirfuse.abi, mlirfuse.workspace = 512 : i64}
// CHECK: %[[C0:.*]] = arith.constant 0 : index
// CHECK: memref.view %[[WS]][%[[C0]]][] : memref<?xi8> to memref<4x16xf32>
// CHECK: %[[C256:.*]] = arith.constant 256 : index
// CHECK: memref.view %[[WS]][%[[C256]]][] : memref<?xi8> to memref<3xi8>
// CHECK-NOT: memref.alloc
// CHECK-NOT: memref.dealloc
// CHECK-LABEL: func.func @other
// CHECK: memref.alloc
func.func @main(%x: memref<4x16xf32>) attributes {mlirfuse.abi} {
  %a = memref.alloc() : memref<4x16xf32>
  memref.copy %x, %a : memref<4x16xf32> to memref<4x16xf32>
  %b = memref.alloc() : memref<3xi8>
  memref.dealloc %a : memref<4x16xf32>
  return
}

func.func @other() {
  %a = memref.alloc() : memref<4xf32>
  return
}
