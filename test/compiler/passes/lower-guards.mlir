// RUN: mlirfuse-opt %s --pass-pipeline='builtin.module(mlirfuse-lower-guards, canonicalize)' | FileCheck %s
// RUN: mlirfuse-opt %s --pass-pipeline='builtin.module(mlirfuse-lower-guards{alignment=16})' | FileCheck %s --check-prefix=ALIGN

// With `alignment` (the GPU target's vector accesses), each data pointer is checked too.
// ALIGN-LABEL: func.func @main
// ALIGN: %[[P:.*]] = memref.extract_aligned_pointer_as_index %arg1
// ALIGN: %[[R:.*]] = arith.remui %[[P]], %c16{{.*}} : index
// ALIGN: arith.cmpi eq, %[[R]], %c0{{.*}} : index
// ALIGN: scf.if

// Arguments become fully dynamic memrefs; sizes and strides of each descriptor are
// compared with the guard's; the body runs under scf.if on the status, on casts to
// the static types it was built for; the function returns the status.
// CHECK-LABEL: func.func @main
// CHECK-SAME: (%[[A:.*]]: memref<?x?xf32, strided<[?, ?], offset: ?>>, %[[O:.*]]: memref<?x?xf32, strided<[?, ?], offset: ?>>) -> i32
// CHECK-DAG: %[[C1:.*]] = arith.constant 1 : i32
// CHECK-DAG: %[[C2:.*]] = arith.constant 2 : i32
// CHECK-DAG: %[[C0:.*]] = arith.constant 0 : i32
// CHECK: memref.extract_strided_metadata %[[A]]
// CHECK: memref.extract_strided_metadata %[[O]]
// CHECK: %[[STATUS:.*]] = arith.select %{{.*}}, %{{.*}}, %[[C1]] : i32
// CHECK: %[[OK:.*]] = arith.cmpi eq, %[[STATUS]], %[[C0]] : i32
// CHECK: scf.if %[[OK]] {
// CHECK: %[[SA:.*]] = memref.reinterpret_cast %[[A]] to offset: [0], sizes: [4, 8], strides: [1, 4] : memref<?x?xf32, strided<[?, ?], offset: ?>> to memref<4x8xf32, strided<[1, 4]>>
// CHECK: %[[SO:.*]] = memref.reinterpret_cast %[[O]] to offset: [0], sizes: [4, 8], strides: [8, 1] : memref<?x?xf32, strided<[?, ?], offset: ?>> to memref<4x8xf32>
// CHECK: memref.copy %[[SA]], %[[SO]]
// CHECK: }
// CHECK: return %[[STATUS]] : i32
// CHECK-NOT: mlirfuse.guard
func.func @main(%a: memref<4x8xf32, strided<[1, 4]>>, %out: memref<4x8xf32>) attributes {mlirfuse.abi} {
  %ta = bufferization.to_tensor %a : memref<4x8xf32, strided<[1, 4]>> to tensor<4x8xf32>
  %to = bufferization.to_tensor %out : memref<4x8xf32> to tensor<4x8xf32>
  "mlirfuse.guard"(%ta) {arg = 0 : i64, sizes = array<i64: 4, 8>, strides = array<i64: 1, 4>} : (tensor<4x8xf32>) -> ()
  "mlirfuse.guard"(%to) {arg = 1 : i64, sizes = array<i64: 4, 8>, strides = array<i64: 8, 1>} : (tensor<4x8xf32>) -> ()
  memref.copy %a, %out : memref<4x8xf32, strided<[1, 4]>> to memref<4x8xf32>
  return
}

// Dynamic sizes: a symbol binds at its first dimension (checked against its range,
// mlirfuse.symbol_ranges: at least 2 here) and later ones must equal it; arguments
// must be contiguous; the kernels see views with the call's sizes.
// CHECK-LABEL: func.func @dynamic
// CHECK: %{{.*}}, %{{.*}}, %[[AS:.*]]:2, %[[AT:.*]]:2 = memref.extract_strided_metadata %arg0
// CHECK: arith.cmpi sge, %[[AS]]#0, %c2 : index
// CHECK: arith.cmpi eq, %[[AS]]#1, %c8 : index
// CHECK: %{{.*}}, %{{.*}}, %[[BS:.*]]:2, %[[BT:.*]]:2 = memref.extract_strided_metadata %arg1
// CHECK: arith.cmpi eq, %[[BS]]#0, %[[AS]]#0 : index
// CHECK: arith.cmpi eq, %[[BT]]#1, %c1 : index
// CHECK: scf.if
// CHECK: memref.reinterpret_cast %arg0 to offset: [0], sizes: [%[[AS]]#0, 8], strides: [8, 1] : memref<?x?xf32, strided<[?, ?], offset: ?>> to memref<?x8xf32>
// CHECK: memref.reinterpret_cast %arg1 to offset: [0], sizes: [%[[BS]]#0, 8], strides: [8, 1] : memref<?x?xf32, strided<[?, ?], offset: ?>> to memref<?x8xf32>
func.func @dynamic(%a: memref<?x8xf32>, %out: memref<?x8xf32>) attributes {mlirfuse.abi, mlirfuse.symbol_ranges = array<i64: 2, -1>} {
  %ta = bufferization.to_tensor %a : memref<?x8xf32> to tensor<?x8xf32>
  %to = bufferization.to_tensor %out : memref<?x8xf32> to tensor<?x8xf32>
  "mlirfuse.guard"(%ta) {arg = 0 : i64, sizes = array<i64: -1, 8>, strides = array<i64: -1, -1>, symbols = array<i64: 0, -1>} : (tensor<?x8xf32>) -> ()
  "mlirfuse.guard"(%to) {arg = 1 : i64, sizes = array<i64: -1, 8>, strides = array<i64: -1, -1>, symbols = array<i64: 0, -1>} : (tensor<?x8xf32>) -> ()
  memref.copy %a, %out : memref<?x8xf32> to memref<?x8xf32>
  return
}
