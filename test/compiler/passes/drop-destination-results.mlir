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

