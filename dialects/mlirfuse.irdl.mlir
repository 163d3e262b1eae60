// The mlirfuse dialect, in IRDL: loaded at run time into every context mlirfuse makes
// (dialects/__init__.py). IRDL ops print and parse in MLIR's generic form; the Python
// builders in dialects/__init__.py fill in the segment sizes (`operandSegmentSizes`,
// `resultSegmentSizes`: discardable attributes, as IRDL ops have no properties).
//
// Why slots: an IRDL constraint value binds one type for all its uses, a variadic's
// elements included, so `variadic %any` would force every operand to one type. A
// group's operands and results are therefore 16 and 4 optional slots, each with a
// constraint of its own; the fusion pass keeps groups within these limits (as the
// TorchScript fuser capped its fusion groups' inputs).
irdl.dialect @mlirfuse {
  // A fusion group: the ops of one kernel, in an isolated region. Operands are what
  // the body uses from outside (its block arguments, in order); results are what the
  // body's terminator yields. IRDL cannot declare a terminator, so the body ends in
  // `gpu.yield`, upstream's value-yielding terminator that accepts any parent.
  // Attribute `kernel`: the kernel's name.
  irdl.operation @group {
    %i0 = irdl.any
    %i1 = irdl.any
    %i2 = irdl.any
    %i3 = irdl.any
    %i4 = irdl.any
    %i5 = irdl.any
    %i6 = irdl.any
    %i7 = irdl.any
    %i8 = irdl.any
    %i9 = irdl.any
    %i10 = irdl.any
    %i11 = irdl.any
    %i12 = irdl.any
    %i13 = irdl.any
    %i14 = irdl.any
    %i15 = irdl.any
    %o0 = irdl.any
    %o1 = irdl.any
    %o2 = irdl.any
    %o3 = irdl.any
    irdl.operands(in0: optional %i0, in1: optional %i1, in2: optional %i2, in3: optional %i3, in4: optional %i4, in5: optional %i5, in6: optional %i6, in7: optional %i7, in8: optional %i8, in9: optional %i9, in10: optional %i10, in11: optional %i11, in12: optional %i12, in13: optional %i13, in14: optional %i14, in15: optional %i15)
    irdl.results(out0: optional %o0, out1: optional %o1, out2: optional %o2, out3: optional %o3)
    %name = irdl.base "#builtin.string"
    irdl.attributes {"kernel" = %name}
    %body = irdl.region with size 1
    irdl.regions(body: %body)
  }

  // What the compiled code assumes about argument `arg` of the entry function:
  // its `sizes` and `strides` (dense i64 arrays, strides in elements). Lowering
  // turns guards into run-time checks that run before any kernel.
  irdl.operation @guard {
    %tensor = irdl.base "!builtin.tensor"
    %sizes = irdl.base "#builtin.dense_array"
    %strides = irdl.base "#builtin.dense_array"
    %index = irdl.base "#builtin.integer"
    irdl.operands(argument: %tensor)
    irdl.attributes {"arg" = %index, "sizes" = %sizes, "strides" = %strides}
  }

  // A value that elementwise fusion must not look through: set on the inputs of
  // contractions (mlirfuse-shield-contractions) so that a producer's computation is
  // not copied into the contraction's body, where it would run once per multiply-add.
  irdl.operation @shield {
    %t = irdl.any
    irdl.operands(input: %t)
    irdl.results(output: %t)
  }
}
