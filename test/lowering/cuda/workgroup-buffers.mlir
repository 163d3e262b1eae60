// RUN: mlirfuse-opt %s --pass-pipeline='builtin.module(mlirfuse-workgroup-buffers)' | FileCheck %s

// A kernel's used workgroup buffer is declared 16-byte aligned (its vector accesses
// need it); the one nothing uses any longer (every read forwarded from registers) is
// dropped, and with it its 32 KiB of each block's shared memory.
// CHECK-LABEL: gpu.func @kernel
// CHECK-SAME: workgroup(%{{.*}} : memref<8x4xf32, #gpu.address_space<workgroup>> {llvm.align = 16 : i64})
// CHECK-NOT: memref<8x1024xf32
// CHECK: vector.store
// A kernel with no workgroup buffer is left as it was.
// CHECK-LABEL: gpu.func @plain
// CHECK-NOT: workgroup
// CHECK: gpu.return
module attributes {gpu.container_module} {
  gpu.module @kernels {
    gpu.func @kernel(%x: memref<8x4xf32>) workgroup(%unused : memref<8x1024xf32, #gpu.address_space<workgroup>>, %tile : memref<8x4xf32, #gpu.address_space<workgroup>>) kernel {
      %c0 = arith.constant 0 : index
      %v = vector.load %x[%c0, %c0] : memref<8x4xf32>, vector<4xf32>
      vector.store %v, %tile[%c0, %c0] : memref<8x4xf32, #gpu.address_space<workgroup>>, vector<4xf32>
      gpu.return
    }
    gpu.func @plain(%x: memref<4xf32>) kernel {
      gpu.return
    }
  }
}
