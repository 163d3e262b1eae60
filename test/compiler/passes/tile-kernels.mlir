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

// form-fusion-groups.mlir's dynamic_rows: the kernel takes the dynamic size as an index
// argument (its tensor.empty's) and its scf.forall runs over the rows of the call.
// CHECK-LABEL: func.func @dynamic_rows
// CHECK: %[[N:.*]] = tensor.dim %arg0, %c0
// CHECK: call @kernel_0(%arg0, %[[N]]) : (tensor<?x64xf32>, index) -> tensor<?x64xf32>
// CHECK: func.func private @kernel_0(%[[X:.*]]: tensor<?x64xf32>, %[[SIZE:.*]]: index)
// CHECK: %[[OUT:.*]] = tensor.empty(%[[SIZE]]) : tensor<?x64xf32>
// CHECK: %[[ROWS:.*]] = tensor.dim %[[X]], %c0
// CHECK: scf.forall (%{{.*}}) in (%[[ROWS]]) shared_outs(%{{.*}} = %[[OUT]])
// CHECK: math.exp
