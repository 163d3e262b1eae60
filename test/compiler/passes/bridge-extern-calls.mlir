// RUN: mlirfuse-opt %s --split-input-file --pass-pipeline='builtin.module(mlirfuse-bridge-extern-calls)' | FileCheck %s

// An extern call with two results: its operand becomes a read-only buffer, each result a
// new buffer the call writes; the declaration gets a body that writes the words (spec
// address and length, then address, offset, sizes and strides of each buffer) and calls
// the runtime.
// CHECK-DAG: func.func private @mlirfuse_extern_call(memref<?xindex>)
// CHECK-DAG: memref.global "private" constant @mlirfuse_extern_op_0_spec : memref<35xi8>
// CHECK-LABEL: func.func private @mlirfuse_extern_op_0
// CHECK-SAME: (%[[IN:.*]]: memref<4x4xf32, strided<[?, ?], offset: ?>>, %[[Q:.*]]: memref<4x4xf32>, %[[R:.*]]: memref<4x4xf32>)
// CHECK-SAME: mlirfuse.extern = "op aten::linalg_qr
// CHECK: %[[WORDS:.*]] = memref.alloca() : memref<20xindex>
// CHECK: memref.get_global @mlirfuse_extern_op_0_spec
// CHECK: memref.extract_strided_metadata %[[IN]]
// CHECK: memref.extract_aligned_pointer_as_index %[[IN]]
// CHECK: memref.extract_aligned_pointer_as_index %[[Q]]
// CHECK: memref.extract_aligned_pointer_as_index %[[R]]
// CHECK: %[[ALL:.*]] = memref.cast %[[WORDS]] : memref<20xindex> to memref<?xindex>
// CHECK: call @mlirfuse_extern_call(%[[ALL]])
// CHECK-LABEL: func.func @main
// CHECK: %[[B:.*]] = bufferization.to_buffer %{{.*}} read_only : tensor<4x4xf32> to memref<4x4xf32, strided<[?, ?], offset: ?>>
// CHECK: %[[O0:.*]] = memref.alloc() {alignment = 64 : i64} : memref<4x4xf32>
// CHECK: %[[O1:.*]] = memref.alloc() {alignment = 64 : i64} : memref<4x4xf32>
// CHECK: call @mlirfuse_extern_op_0(%[[B]], %[[O0]], %[[O1]])
// CHECK: %[[T0:.*]] = bufferization.to_tensor %[[O0]] restrict writable
// CHECK: %[[T1:.*]] = bufferization.to_tensor %[[O1]] restrict writable
// CHECK: return %[[T0]], %[[T1]]
func.func private @mlirfuse_extern_op_0(tensor<4x4xf32>) -> (tensor<4x4xf32>, tensor<4x4xf32>) attributes {mlirfuse.extern = "op aten::linalg_qr\0Aarg T 0\0Aarg S r\0A"}
func.func @main(%a: tensor<4x4xf32>) -> (tensor<4x4xf32>, tensor<4x4xf32>) {
  %0:2 = call @mlirfuse_extern_op_0(%a) : (tensor<4x4xf32>) -> (tensor<4x4xf32>, tensor<4x4xf32>)
  return %0#0, %0#1 : tensor<4x4xf32>, tensor<4x4xf32>
}

// -----

// A 0-d operand has no sizes or strides: two words (address, offset); 2 + 2 + 4 in all.
// CHECK-LABEL: func.func private @mlirfuse_extern_op_0
// CHECK-SAME: (%[[S:.*]]: memref<f32, strided<[], offset: ?>>, %{{.*}}: memref<3xi64>)
// CHECK: memref.alloca() : memref<8xindex>
// CHECK: %{{.*}}, %{{.*}} = memref.extract_strided_metadata %[[S]] : memref<f32, strided<[], offset: ?>> -> memref<f32>, index
func.func private @mlirfuse_extern_op_0(tensor<f32>) -> tensor<3xi64> attributes {mlirfuse.extern = "op aten::x"}
func.func @main(%a: tensor<f32>) -> tensor<3xi64> {
  %0 = call @mlirfuse_extern_op_0(%a) : (tensor<f32>) -> tensor<3xi64>
  return %0 : tensor<3xi64>
}

// -----

// An operand that is a constant (here through a reshape) is a global of the host code
// after bufferization, also when the op runs on a GPU: the spec says so (`host 1`), and
// the runtime gives the op a device copy of it. The other operand is the caller's buffer.
// CHECK-LABEL: func.func private @mlirfuse_extern_op_0
// CHECK-SAME: mlirfuse.extern = "op aten::linalg_pinv\0Aarg T 0\0Aarg T 1\0Ahost 1"
// CHECK-NOT: host 0
func.func private @mlirfuse_extern_op_0(tensor<4x4xf32>, tensor<f32>) -> tensor<4x4xf32> attributes {mlirfuse.extern = "op aten::linalg_pinv\0Aarg T 0\0Aarg T 1"}
func.func @main(%a: tensor<4x4xf32>) -> tensor<4x4xf32> {
  %c = arith.constant dense<[1.0e-05]> : tensor<1xf32>
  %r = tensor.collapse_shape %c [] : tensor<1xf32> into tensor<f32>
  %0 = call @mlirfuse_extern_op_0(%a, %r) : (tensor<4x4xf32>, tensor<f32>) -> tensor<4x4xf32>
  return %0 : tensor<4x4xf32>
}

// -----

// A module without extern calls is left as it is (no runtime declaration).
// CHECK-LABEL: func.func @main
// CHECK-NOT: mlirfuse_extern_call
func.func @main(%a: tensor<4xf32>) -> tensor<4xf32> {
  return %a : tensor<4xf32>
}

// -----

// A result of symbolic size (a convolution over a symbolic batch, on the CPU): the
// spec's `size 0 0 0 0` line says result 0's size 0 is input 0's size 0, and the result
// buffer is allocated with it, read from the input's buffer per call.
// CHECK-LABEL: func.func @main
// CHECK: %[[X:.*]] = bufferization.to_buffer %arg0 read_only : tensor<?x4x8x8xf32> to memref<?x4x8x8xf32, strided<[?, ?, ?, ?], offset: ?>>
// CHECK: %[[W:.*]] = bufferization.to_buffer %arg1
// CHECK: %[[N:.*]] = memref.dim %[[X]], %c0
// CHECK: %[[O:.*]] = memref.alloc(%[[N]]) {alignment = 64 : i64} : memref<?x8x6x6xf32>
// CHECK: call @mlirfuse_extern_op_0(%[[X]], %[[W]], %[[O]])
func.func private @mlirfuse_extern_op_0(tensor<?x4x8x8xf32>, tensor<8x4x3x3xf32>) -> tensor<?x8x6x6xf32> attributes {mlirfuse.extern = "op aten::convolution\0Aout 6 4\0Asize 0 0 0 0\0Aarg T 0\0Aarg T 1"}
func.func @main(%x: tensor<?x4x8x8xf32>, %w: tensor<8x4x3x3xf32>) -> tensor<?x8x6x6xf32> {
  %0 = call @mlirfuse_extern_op_0(%x, %w) : (tensor<?x4x8x8xf32>, tensor<8x4x3x3xf32>) -> tensor<?x8x6x6xf32>
  return %0 : tensor<?x8x6x6xf32>
}
