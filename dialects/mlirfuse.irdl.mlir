// The mlirfuse dialect, in IRDL: loaded at run time into every context mlirfuse makes
// (dialects/__init__.py). IRDL ops print and parse in MLIR's generic form; the Python
// builders in dialects/__init__.py fill in the segment sizes (`operandSegmentSizes`,
// `resultSegmentSizes`: discardable attributes, as IRDL ops have no properties).
//
// Why slots: an IRDL constraint value binds one type for all its uses, a variadic's
// elements included, so `variadic %any` would force every operand to one type. A
// group's operands and results are therefore 64 and 8 optional slots, each with a
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
    %i16 = irdl.any
    %i17 = irdl.any
    %i18 = irdl.any
    %i19 = irdl.any
    %i20 = irdl.any
    %i21 = irdl.any
    %i22 = irdl.any
    %i23 = irdl.any
    %i24 = irdl.any
    %i25 = irdl.any
    %i26 = irdl.any
    %i27 = irdl.any
    %i28 = irdl.any
    %i29 = irdl.any
    %i30 = irdl.any
    %i31 = irdl.any
    %i32 = irdl.any
    %i33 = irdl.any
    %i34 = irdl.any
    %i35 = irdl.any
    %i36 = irdl.any
    %i37 = irdl.any
    %i38 = irdl.any
    %i39 = irdl.any
    %i40 = irdl.any
    %i41 = irdl.any
    %i42 = irdl.any
    %i43 = irdl.any
    %i44 = irdl.any
    %i45 = irdl.any
    %i46 = irdl.any
    %i47 = irdl.any
    %i48 = irdl.any
    %i49 = irdl.any
    %i50 = irdl.any
    %i51 = irdl.any
    %i52 = irdl.any
    %i53 = irdl.any
    %i54 = irdl.any
    %i55 = irdl.any
    %i56 = irdl.any
    %i57 = irdl.any
    %i58 = irdl.any
    %i59 = irdl.any
    %i60 = irdl.any
    %i61 = irdl.any
    %i62 = irdl.any
    %i63 = irdl.any
    %o0 = irdl.any
    %o1 = irdl.any
    %o2 = irdl.any
    %o3 = irdl.any
    %o4 = irdl.any
    %o5 = irdl.any
    %o6 = irdl.any
    %o7 = irdl.any
    irdl.operands(in0: optional %i0, in1: optional %i1, in2: optional %i2, in3: optional %i3, in4: optional %i4, in5: optional %i5, in6: optional %i6, in7: optional %i7, in8: optional %i8, in9: optional %i9, in10: optional %i10, in11: optional %i11, in12: optional %i12, in13: optional %i13, in14: optional %i14, in15: optional %i15, in16: optional %i16, in17: optional %i17, in18: optional %i18, in19: optional %i19, in20: optional %i20, in21: optional %i21, in22: optional %i22, in23: optional %i23, in24: optional %i24, in25: optional %i25, in26: optional %i26, in27: optional %i27, in28: optional %i28, in29: optional %i29, in30: optional %i30, in31: optional %i31, in32: optional %i32, in33: optional %i33, in34: optional %i34, in35: optional %i35, in36: optional %i36, in37: optional %i37, in38: optional %i38, in39: optional %i39, in40: optional %i40, in41: optional %i41, in42: optional %i42, in43: optional %i43, in44: optional %i44, in45: optional %i45, in46: optional %i46, in47: optional %i47, in48: optional %i48, in49: optional %i49, in50: optional %i50, in51: optional %i51, in52: optional %i52, in53: optional %i53, in54: optional %i54, in55: optional %i55, in56: optional %i56, in57: optional %i57, in58: optional %i58, in59: optional %i59, in60: optional %i60, in61: optional %i61, in62: optional %i62, in63: optional %i63)
    irdl.results(out0: optional %o0, out1: optional %o1, out2: optional %o2, out3: optional %o3, out4: optional %o4, out5: optional %o5, out6: optional %o6, out7: optional %o7)
    %name = irdl.base "#builtin.string"
    irdl.attributes {"kernel" = %name}
    %body = irdl.region with size 1
    irdl.regions(body: %body)
  }

  // What the compiled code assumes about argument `arg` of the entry function:
  // its `sizes` and `strides` (dense i64 arrays, strides in elements; -1: dynamic).
  // A guard with dynamic sizes also has `symbols` (a discardable dense i64 array: the
  // symbol each dimension's size is, or -1). Lowering turns guards into run-time
  // checks that run before any kernel.
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
