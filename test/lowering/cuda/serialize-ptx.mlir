// RUN: mlirfuse-opt %s --pass-pipeline='builtin.module(mlirfuse-serialize-ptx{chip=sm_90})' | FileCheck %s

// The gpu.module becomes a gpu.binary holding sm_90 PTX. The constants are ones the
// LLVM 24 of torch-mlir prints in forms llc 22 rejected (-inf; 0.044715, which is no
// float exactly): they reach the PTX as the right bits.
// CHECK: gpu.binary @kernels [#gpu.object<#nvvm.target<chip = "sm_90">, assembly = "
// CHECK-SAME: .target sm_90
// CHECK-SAME: .visible .entry fill(
// CHECK-SAME: st.global.b32 {{.*}}, -8388608;
// CHECK-SAME: mul.rn.f32 {{.*}}, 0f3D372713;
// CHECK-NOT: gpu.module
module attributes {gpu.container_module} {
  gpu.module @kernels [#nvvm.target<chip = "sm_90">] {
    llvm.func @fill(%p: !llvm.ptr, %q: !llvm.ptr) attributes {gpu.kernel, nvvm.kernel} {
      %inf = llvm.mlir.constant(0xFF800000 : f32) : f32
      %c = llvm.mlir.constant(4.471500e-02 : f32) : f32
      %t = nvvm.read.ptx.sreg.tid.x : i32
      %a = llvm.getelementptr %p[%t] : (!llvm.ptr, i32) -> !llvm.ptr, f32
      llvm.store %inf, %a : f32, !llvm.ptr
      %b = llvm.getelementptr %q[%t] : (!llvm.ptr, i32) -> !llvm.ptr, f32
      %x = llvm.load %b : !llvm.ptr -> f32
      %y = llvm.fmul %x, %c : f32
      llvm.store %y, %b : f32, !llvm.ptr
      llvm.return
    }
  }
}
