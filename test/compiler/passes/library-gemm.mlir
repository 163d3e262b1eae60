// RUN: mlirfuse-opt %s --pass-pipeline='builtin.module(mlirfuse-library-gemm)' | FileCheck %s
// RUN: mlirfuse-opt %s --pass-pipeline='builtin.module(mlirfuse-library-gemm{target=cuda})' | FileCheck %s --check-prefix=CUDA
// RUN: mlirfuse-opt %s --pass-pipeline='builtin.module(mlirfuse-library-gemm{target=cuda pack=true})' | FileCheck %s --check-prefix=PACK

#a = affine_map<(d0, d1, d2) -> (d0, d2)>
#b = affine_map<(d0, d1, d2) -> (d1, d2)>
#c = affine_map<(d0, d1, d2) -> (d0, d1)>
#all = affine_map<(d0, d1) -> (d0, d1)>

// x @ w.t() after a zero fill (nn.Linear): one call that overwrites C (accumulate 0,
// the last argument) and no fill. The arguments: dtype 0 (f32), batch 1, m 64, n 512,
// k 256, then per operand its pointer, offset and (batch, row, col) strides: A is
// [64, 256] row-major (256, 1), w seen as B = w^T is (k: 1, n: 256), C (512, 1).
// CHECK-LABEL: func.func private @mlirfuse_cpu_gemm(i32, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i32)
// CHECK-LABEL: func.func @linear
// CHECK-NOT: linalg.fill
// CHECK-COUNT-3: memref.extract_aligned_pointer_as_index
// CHECK-DAG: %[[OVERWRITE:.*]] = arith.constant 0 : i32
// CHECK-DAG: %[[F32:.*]] = arith.constant 0 : i32
// CHECK-DAG: %[[ONE:.*]] = arith.constant 1 : i64
// CHECK-DAG: %[[M:.*]] = arith.constant 64 : i64
// CHECK-DAG: %[[N:.*]] = arith.constant 512 : i64
// CHECK-DAG: %[[K:.*]] = arith.constant 256 : i64
// CHECK: call @mlirfuse_cpu_gemm(%[[F32]], %[[ONE]], %[[M]], %[[N]], %[[K]], %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[OVERWRITE]])
// CHECK-NOT: linalg.generic
// CUDA-LABEL: func.func @linear
// CUDA: call @mlirfuse_gemm
func.func @linear(%x: memref<64x256xf32>, %w: memref<512x256xf32>, %y: memref<64x512xf32>) attributes {mlirfuse.abi} {
  %zero = arith.constant 0.0 : f32
  linalg.fill ins(%zero : f32) outs(%y : memref<64x512xf32>)
  linalg.generic {indexing_maps = [#a, #b, #c], iterator_types = ["parallel", "parallel", "reduction"]} ins(%x, %w : memref<64x256xf32>, memref<512x256xf32>) outs(%y : memref<64x512xf32>) {
  ^bb0(%p: f32, %q: f32, %o: f32):
    %1 = arith.mulf %p, %q : f32
    %2 = arith.addf %o, %1 : f32
    linalg.yield %2 : f32
  }
  return
}

// Accumulating into C that holds a bias (mlirfuse-fold-accumulation's form): the
// fill before it is no zero fill, so it stays and the call accumulates (last
// argument 1). Inside the guard's scf.if too.
// CHECK-LABEL: func.func @accumulate
// CHECK: scf.if
// CHECK: linalg.generic
// CHECK: %[[ACC:.*]] = arith.constant 1 : i32
// CHECK: call @mlirfuse_cpu_gemm({{.*}}, %[[ACC]])
func.func @accumulate(%x: memref<64x256xf32>, %w: memref<512x256xf32>, %bias: memref<64x512xf32>, %y: memref<64x512xf32>, %ok: i1) attributes {mlirfuse.abi} {
  scf.if %ok {
    linalg.generic {indexing_maps = [#all, #all], iterator_types = ["parallel", "parallel"]} ins(%bias : memref<64x512xf32>) outs(%y : memref<64x512xf32>) {
    ^bb0(%p: f32, %o: f32):
      linalg.yield %p : f32
    }
    linalg.generic {indexing_maps = [#a, #b, #c], iterator_types = ["parallel", "parallel", "reduction"]} ins(%x, %w : memref<64x256xf32>, memref<512x256xf32>) outs(%y : memref<64x512xf32>) {
    ^bb0(%p: f32, %q: f32, %o: f32):
      %1 = arith.mulf %p, %q : f32
      %2 = arith.addf %o, %1 : f32
      linalg.yield %2 : f32
    }
  }
  return
}

// What no BLAS takes stays generated code: integer matmuls, and f16 on the CPU (cuBLAS
// takes f16: one call for CUDA).
// CHECK-LABEL: func.func @left_alone
// CHECK-NOT: call
// CHECK-COUNT-2: linalg.generic
// CUDA-LABEL: func.func @left_alone
// CUDA-COUNT-1: call @mlirfuse_gemm
// CUDA-NOT: call
func.func @left_alone(%x: memref<8x16xi32>, %w: memref<4x16xi32>, %y: memref<8x4xi32>, %h: memref<8x16xf16>, %v: memref<4x16xf16>, %z: memref<8x4xf16>) attributes {mlirfuse.abi} {
  linalg.generic {indexing_maps = [#a, #b, #c], iterator_types = ["parallel", "parallel", "reduction"]} ins(%x, %w : memref<8x16xi32>, memref<4x16xi32>) outs(%y : memref<8x4xi32>) {
  ^bb0(%p: i32, %q: i32, %o: i32):
    %1 = arith.muli %p, %q : i32
    %2 = arith.addi %o, %1 : i32
    linalg.yield %2 : i32
  }
  linalg.generic {indexing_maps = [#a, #b, #c], iterator_types = ["parallel", "parallel", "reduction"]} ins(%h, %v : memref<8x16xf16>, memref<4x16xf16>) outs(%z : memref<8x4xf16>) {
  ^bb0(%p: f16, %q: f16, %o: f16):
    %1 = arith.mulf %p, %q : f16
    %2 = arith.addf %o, %1 : f16
    linalg.yield %2 : f16
  }
  return
}

// The attention output's projection, sum over heads h and head dims d: in A the two
// do not nest like one row-major dimension (h's stride is 8192, not 64), so h is a
// host loop of 8 calls with k = 64, moving A's offset by 8192 and W's by 64 per step;
// the first step overwrites C (after its zero fill), the others accumulate.
#ha = affine_map<(s, n, h, d) -> (h, s, d)>
#hw = affine_map<(s, n, h, d) -> (n, h, d)>
#hc = affine_map<(s, n, h, d) -> (s, n)>
// CHECK-LABEL: func.func @heads_projection
// CHECK-NOT: linalg
// CHECK: scf.for %[[H:.*]] = %{{.*}} to %c8 step
// CHECK-DAG: arith.muli %[[H]], %c8192
// CHECK-DAG: arith.muli %[[H]], %c64
// CHECK: %[[LATER:.*]] = arith.cmpi ne, %[[H]]
// CHECK: %[[FLAG:.*]] = arith.extui %[[LATER]] : i1 to i32
// CHECK: call @mlirfuse_cpu_gemm({{.*}}, %[[FLAG]])
// CUDA-LABEL: func.func @heads_projection
// CUDA: scf.for
// CUDA: call @mlirfuse_gemm
// With pack=true (the GPU, where each call is a launch) A is first copied into a
// contiguous [s, h, d] buffer: then one call of 128 x 512 x 512, no host loop.
// PACK-LABEL: func.func @heads_projection
// PACK: %[[P:.*]] = memref.alloc() : memref<128x8x64xf32>
// PACK: linalg.generic {{.*}} ins(%arg0 : memref<8x128x64xf32>) outs(%[[P]] : memref<128x8x64xf32>)
// PACK-NOT: scf.for
// PACK: call @mlirfuse_gemm(%{{[^,]*}}, %c1_i64{{[^,]*}}, %c128_i64{{[^,]*}}, %c512_i64{{[^,]*}}, %c512_i64
func.func @heads_projection(%a: memref<8x128x64xf32>, %w: memref<512x8x64xf32>, %c: memref<128x512xf32>) attributes {mlirfuse.abi} {
  %zero = arith.constant 0.0 : f32
  linalg.fill ins(%zero : f32) outs(%c : memref<128x512xf32>)
  linalg.generic {indexing_maps = [#ha, #hw, #hc], iterator_types = ["parallel", "parallel", "reduction", "reduction"]} ins(%a, %w : memref<8x128x64xf32>, memref<512x8x64xf32>) outs(%c : memref<128x512xf32>) {
  ^bb0(%p: f32, %q: f32, %o: f32):
    %1 = arith.mulf %p, %q : f32
    %2 = arith.addf %o, %1 : f32
    linalg.yield %2 : f32
  }
  return
}

// The attention's input projection writes C as [seq, batch, 3 * dim]: its m loops
// (batch, seq) nest in no one order in both A and C. Seq (128) is the calls' m and
// batch (4) a host loop: 4 calls of 128 x 1536 x 512, not 128 calls with m = 4.
#pa = affine_map<(b, s, n, k) -> (b, s, k)>
#pw = affine_map<(b, s, n, k) -> (n, k)>
#pc = affine_map<(b, s, n, k) -> (s, b, n)>
// CHECK-LABEL: func.func @projection_to_seq_major
// CHECK: scf.for %{{.*}} = %{{.*}} to %c4 step
// CHECK-NOT: scf.for
// CHECK: call @mlirfuse_cpu_gemm(%{{[^,]*}}, %c1_i64{{[^,]*}}, %c128_i64{{[^,]*}}, %c1536_i64{{[^,]*}}, %c512_i64
func.func @projection_to_seq_major(%a: memref<4x128x512xf32>, %w: memref<1536x512xf32>, %c: memref<128x4x1536xf32>) attributes {mlirfuse.abi} {
  linalg.generic {indexing_maps = [#pa, #pw, #pc], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%a, %w : memref<4x128x512xf32>, memref<1536x512xf32>) outs(%c : memref<128x4x1536xf32>) {
  ^bb0(%p: f32, %q: f32, %o: f32):
    %1 = arith.mulf %p, %q : f32
    %2 = arith.addf %o, %1 : f32
    linalg.yield %2 : f32
  }
  return
}

// Dynamic sizes (attention's q @ k^T over a symbolic sequence length): the two batch
// loops (2 x 4) nest in each contiguous operand and are one batch dimension; sizes are
// the product of the descriptors' sizes and the strides that are not static are read
// from them, per call.
#qa = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d4)>
#qb = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d4, d3)>
#qc = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d3)>
// CHECK-LABEL: func.func @dynamic_scores
// CHECK: %{{.*}}, %{{.*}}, %[[AS:.*]]:4, %[[AT:.*]]:4 = memref.extract_strided_metadata %arg0
// CHECK: %{{.*}}, %{{.*}}, %[[BS:.*]]:4, %[[BT:.*]]:4 = memref.extract_strided_metadata %arg1
// CHECK: %{{.*}}, %{{.*}}, %[[CS:.*]]:4, %[[CT:.*]]:4 = memref.extract_strided_metadata %arg2
// CHECK: arith.index_cast %[[AS]]#0
// CHECK: arith.index_cast %[[AS]]#1
// CHECK: arith.index_cast %[[AS]]#2
// CHECK: arith.index_cast %[[BS]]#3
// CHECK: arith.index_cast %[[AS]]#3
// CHECK: arith.index_cast %[[AT]]#1
// CHECK: arith.index_cast %[[CT]]#2
// CHECK: call @mlirfuse_cpu_gemm
// CHECK-NOT: linalg.generic
func.func @dynamic_scores(%q: memref<2x4x?x16xf32>, %k: memref<2x4x16x?xf32>, %s: memref<2x4x?x?xf32>) attributes {mlirfuse.abi} {
  linalg.generic {indexing_maps = [#qa, #qb, #qc], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%q, %k : memref<2x4x?x16xf32>, memref<2x4x16x?xf32>) outs(%s : memref<2x4x?x?xf32>) {
  ^bb0(%p: f32, %r: f32, %o: f32):
    %1 = arith.mulf %p, %r : f32
    %2 = arith.addf %o, %1 : f32
    linalg.yield %2 : f32
  }
  return
}

// A dynamic contraction whose batch loops do not nest (a strided view): the outer one
// is a host loop around the call, each step moving every operand by its stride (read
// from the descriptor).
// CHECK-LABEL: func.func @dynamic_views
// CHECK: %{{.*}}, %[[OFF:.*]], %[[AS:.*]]:4, %[[AT:.*]]:4 = memref.extract_strided_metadata %arg0
// CHECK: scf.for %[[I:.*]] = %c0 to %{{.*}} step
// CHECK: %[[STEP:.*]] = arith.muli %[[I]], %[[AT]]#0 : index
// CHECK: arith.addi %[[OFF]], %[[STEP]] : index
// CHECK: call @mlirfuse_cpu_gemm
// CHECK: } {mlirfuse.host}
// CHECK-NOT: linalg.generic
func.func @dynamic_views(%q: memref<2x4x?x16xf32, strided<[?, 16, ?, 1]>>, %k: memref<2x4x16x?xf32>, %s: memref<2x4x?x?xf32>) attributes {mlirfuse.abi} {
  linalg.generic {indexing_maps = [#qa, #qb, #qc], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%q, %k : memref<2x4x?x16xf32, strided<[?, 16, ?, 1]>>, memref<2x4x16x?xf32>) outs(%s : memref<2x4x?x?xf32>) {
  ^bb0(%p: f32, %r: f32, %o: f32):
    %1 = arith.mulf %p, %r : f32
    %2 = arith.addf %o, %1 : f32
    linalg.yield %2 : f32
  }
  return
}

// Dynamic sizes with pack: the input projection of a sequence-first transformer (A is
// [batch, seq, k], C is [seq, batch, n]): A's m loops do not nest like C's, so A is
// copied into a buffer of the call's sizes in C's order, and one call remains.
#dpa = affine_map<(d0, d1, d2, d3) -> (d1, d0, d3)>
#dpb = affine_map<(d0, d1, d2, d3) -> (d2, d3)>
#dpc = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>
// PACK-LABEL: func.func @dynamic_packed
// PACK: %[[N:.*]] = memref.dim %arg0, %c0
// PACK: %[[COPY:.*]] = memref.alloc(%[[N]]) : memref<128x?x64xf32>
// PACK: linalg.generic {{.*}} ins(%arg0 : memref<?x128x64xf32>) outs(%[[COPY]] : memref<128x?x64xf32>)
// PACK-NOT: scf.for
// PACK: call @mlirfuse_gemm
// PACK-NOT: scf.for
// PACK: return
func.func @dynamic_packed(%x: memref<?x128x64xf32>, %w: memref<32x64xf32>, %y: memref<128x?x32xf32>) attributes {mlirfuse.abi} {
  linalg.generic {indexing_maps = [#dpa, #dpb, #dpc], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%x, %w : memref<?x128x64xf32>, memref<32x64xf32>) outs(%y : memref<128x?x32xf32>) {
  ^bb0(%p: f32, %q: f32, %o: f32):
    %1 = arith.mulf %p, %q : f32
    %2 = arith.addf %o, %1 : f32
    linalg.yield %2 : f32
  }
  return
}

// Dynamic sizes, attention's q as a view of the projection ([s, b, h, d], strides
// [?, 512, 64, 1]: s symbolic): not contiguous, but the static strides show b and h nest
// (512 = 8 x 64), so they are one batch dimension of stride 64 and one call remains,
// with no copy under pack either. (Packed before: 4 copies a transformer layer, the
// dynamic code 1.53x the static code's time on the H200.)
#hva = affine_map<(d0, d1, d2, d3, d4) -> (d2, d0, d1, d4)>
#hvb = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d4, d3)>
#hvc = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d3)>
// CHECK-LABEL: func.func @dynamic_head_views
// CHECK-NOT: scf.for
// CHECK: call @mlirfuse_cpu_gemm
// CHECK-NOT: linalg.generic
// PACK-LABEL: func.func @dynamic_head_views
// PACK-NOT: linalg.generic
// PACK-NOT: scf.for
// PACK: call @mlirfuse_gemm
// PACK-NOT: linalg.generic
// PACK: return
func.func @dynamic_head_views(%q: memref<?x4x8x64xf32, strided<[?, 512, 64, 1]>>, %k: memref<4x8x64x?xf32>, %s: memref<4x8x?x?xf32>) attributes {mlirfuse.abi} {
  linalg.generic {indexing_maps = [#hva, #hvb, #hvc], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%q, %k : memref<?x4x8x64xf32, strided<[?, 512, 64, 1]>>, memref<4x8x64x?xf32>) outs(%s : memref<4x8x?x?xf32>) {
  ^bb0(%p: f32, %r: f32, %o: f32):
    %1 = arith.mulf %p, %r : f32
    %2 = arith.addf %o, %1 : f32
    linalg.yield %2 : f32
  }
  return
}
