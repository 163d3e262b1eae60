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

// Symbolic sizes: a temporary of ? rows goes after the static ones, at an offset the host
// computes from the call's sizes; the size attribute is an expression of the arguments'
// sizes (argument 0's rows, 64 bytes a row, padded to 256) that the runtime evaluates.
// CHECK-LABEL: func.func @rows
// CHECK-SAME: mlirfuse.workspace = "(+ 256 (* (ceildiv (* (dim 0 0) 64) 256) 256) (* (ceildiv (* (dim 0 0) 4) 256) 256))"
// CHECK: %[[N:.*]] = memref.dim %{{.*}}, %c0
// CHECK: %[[AT:.*]] = arith.constant 256 : index
// CHECK: memref.view %[[WS:.*]][%[[AT]]][%[[N]]] : memref<?xi8> to memref<?x16xf32>
// CHECK: %[[NEXT:.*]] = arith.addi %[[AT]]
// CHECK: memref.view %[[WS]][%{{.*}}][] : memref<?xi8> to memref<3xi8>
// CHECK: memref.view %[[WS]][%[[NEXT]]][%[[N]]] : memref<?xi8> to memref<?xf32>
// CHECK-NOT: memref.alloc
func.func @rows(%x: memref<?x16xf32>) attributes {mlirfuse.abi} {
  %c0 = arith.constant 0 : index
  %n = memref.dim %x, %c0 : memref<?x16xf32>
  %a = memref.alloc(%n) : memref<?x16xf32>
  %b = memref.alloc() : memref<3xi8>
  %c = memref.alloc(%n) : memref<?xf32>
  memref.copy %x, %a : memref<?x16xf32> to memref<?x16xf32>
  return
}

// Sizes computed with affine.apply, compares and selects (torch-mlir's view to a size
// with an inferred -1) are expressions too; a view's size is read through its operands.
// CHECK-LABEL: func.func @computed_sizes
// CHECK-SAME: mlirfuse.workspace = "(+ 0 (* (ceildiv (* (select (> (dim 0 0) 4) (+ (* (dim 0 0) 2) 1) 4) 4) 256) 256))"
#twice_plus_one = affine_map<(d0) -> (d0 * 2 + 1)>
func.func @computed_sizes(%x: memref<?xf32>) attributes {mlirfuse.abi} {
  %c0 = arith.constant 0 : index
  %c4 = arith.constant 4 : index
  %n = memref.dim %x, %c0 : memref<?xf32>
  %m = affine.apply #twice_plus_one(%n)
  %big = arith.cmpi sgt, %n, %c4 : index
  %size = arith.select %big, %m, %c4 : index
  %a = memref.alloc(%size) : memref<?xf32>
  return
}
