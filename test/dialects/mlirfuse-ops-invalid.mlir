// Invalid mlirfuse ops are rejected with a diagnostic.
// RUN: mlirfuse-opt %s --split-input-file --verify-diagnostics

func.func @guard_sizes_not_array(%a: tensor<4xf32>) {
  // expected-error@+1 {{expected base attribute 'builtin.dense_array' but got 'builtin.integer'}}
  "mlirfuse.guard"(%a) {arg = 0 : i64, sizes = 4 : i64, strides = array<i64: 1>} : (tensor<4xf32>) -> ()
  return
}

// -----

func.func @guard_missing_strides(%a: tensor<4xf32>) {
  // expected-error@+1 {{attribute "strides" is expected but not provided}}
  "mlirfuse.guard"(%a) {arg = 0 : i64, sizes = array<i64: 4>} : (tensor<4xf32>) -> ()
  return
}

// -----

func.func @guard_on_a_scalar(%a: f32) {
  // expected-error@+1 {{expected base type 'builtin.tensor' but got 'builtin.f32'}}
  "mlirfuse.guard"(%a) {arg = 0 : i64, sizes = array<i64>, strides = array<i64>} : (f32) -> ()
  return
}

// -----

func.func @group_without_kernel_name(%a: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error@+1 {{attribute "kernel" is expected but not provided}}
  %r = "mlirfuse.group"(%a) ({
  ^bb0(%x: tensor<4xf32>):
    gpu.yield %x : tensor<4xf32>
  }) {operandSegmentSizes = array<i32: 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0>, resultSegmentSizes = array<i32: 1, 0, 0, 0, 0, 0, 0, 0>} : (tensor<4xf32>) -> tensor<4xf32>
  return %r : tensor<4xf32>
}
