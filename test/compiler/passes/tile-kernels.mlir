// RUN: mlirfuse-opt %S/form-fusion-groups.mlir --split-input-file --pass-pipeline='builtin.module(mlirfuse-form-fusion-groups, mlirfuse-outline-fusion-groups, mlirfuse-tile-kernels, canonicalize)' | FileCheck %s

// Softmax's kernel is one scf.forall over the 8 rows with all four generics inside:
// nothing is materialized between them.
// CHECK-LABEL: func.func private @kernel_0
// CHECK: scf.forall (%[[I:.*]]) in (8)
// CHECK: tensor.extract_slice %{{.*}}[%[[I]], 0] [1, 64] [1, 1]
// CHECK-COUNT-4: linalg.generic
// CHECK: scf.forall.in_parallel
// CHECK-NOT: linalg.generic
// CHECK: return
// CHECK-NOT: mlirfuse.tile_loops
// CHECK-NOT: mlirfuse.fuse
