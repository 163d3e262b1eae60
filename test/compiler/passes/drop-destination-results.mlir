// RUN: mlirfuse-opt %s --split-input-file --pass-pipeline='builtin.module(mlirfuse-drop-destination-results)' | FileCheck %s

// CHECK-LABEL: func.func @main
// CHECK-SAME: (%{{.*}}: memref<4xf32>, %{{.*}}: memref<4xf32, strided<[?], offset: ?>>) attributes
// CHECK-NEXT: return{{$}}
func.func @main(%a: memref<4xf32>, %out: memref<4xf32, strided<[?], offset: ?>>) -> memref<4xf32, strided<[?], offset: ?>> attributes {mlirfuse.abi} {
  return %out : memref<4xf32, strided<[?], offset: ?>>
}

// -----

// Functions without the mlirfuse.abi mark are not touched.
// CHECK-LABEL: func.func @other
// CHECK: return %{{.*}} : memref<4xf32>
func.func @other(%a: memref<4xf32>) -> memref<4xf32> {
  return %a : memref<4xf32>
}


// -----

// A symbolic batch: the destination is memref<?x512xf32>, returned through a cast to
// the fully dynamic layout (what one-shot-bufferize writes); the result goes all the same.
// CHECK-LABEL: func.func @symbolic
// CHECK-SAME: (%{{.*}}: memref<?x512xf32, strided<[?, ?], offset: ?>>, %[[OUT:.*]]: memref<?x512xf32>) attributes {mlirfuse.abi}
// CHECK: memref.copy %{{.*}}, %[[OUT]]
// CHECK: return{{$}}
func.func @symbolic(%a: memref<?x512xf32, strided<[?, ?], offset: ?>>, %out: memref<?x512xf32>) -> memref<?x512xf32, strided<[?, ?], offset: ?>> attributes {mlirfuse.abi} {
  memref.copy %a, %out : memref<?x512xf32, strided<[?, ?], offset: ?>> to memref<?x512xf32>
  %r = memref.cast %out : memref<?x512xf32> to memref<?x512xf32, strided<[?, ?], offset: ?>>
  return %r : memref<?x512xf32, strided<[?, ?], offset: ?>>
}
