// RUN: mlirfuse-opt %s --pass-pipeline='builtin.module(mlirfuse-map-to-gpu{vector-bytes=16}, canonicalize, cse)' | FileCheck %s
// RUN: mlirfuse-opt %s --pass-pipeline='builtin.module(mlirfuse-map-to-gpu{vector-bytes=16}, canonicalize, cse)' | FileCheck %s --check-prefix=WARP

#row = affine_map<(d0, d1) -> (d0, d1)>
#red = affine_map<(d0, d1) -> (d0)>
#one = affine_map<(d0) -> (d0)>
#t = affine_map<(d0, d1) -> (d1, d0)>

// Softmax over rows of 256, one block of 64 threads per row: each thread loads its
// 4 elements once (one vector load) and keeps them in registers through max, exp,
// sum and divide; exp's store to the output is dead (the divide overwrites it), the
// accumulators live in registers (no shared memory traffic), and only the barriers
// around gpu.all_reduce's own shared memory remain.
// CHECK-LABEL: func.func @softmax
// CHECK: gpu.launch blocks({{.*}}) in ({{.*}} = %c4{{.*}}) threads({{.*}}) in ({{.*}} = %c64
// CHECK-COUNT-1: vector.load
// CHECK-NOT: vector.load
// CHECK-NOT: memref.load
// CHECK: gpu.all_reduce maximumf
// CHECK-NOT: memref.load
// CHECK: math.exp
// CHECK-NOT: vector.store
// CHECK: gpu.all_reduce add
// CHECK-NOT: memref.load
// CHECK: arith.divf
// CHECK: vector.store
// CHECK-NOT: vector.store
// CHECK: gpu.terminator
func.func @softmax(%x: memref<4x256xf32>, %y: memref<4x256xf32>) attributes {mlirfuse.abi} {
  %ninf = arith.constant 0xFF800000 : f32
  %zero = arith.constant 0.000000e+00 : f32
  scf.forall (%i) in (4) {
    %row = memref.subview %x[%i, 0] [1, 256] [1, 1] : memref<4x256xf32> to memref<1x256xf32, strided<[256, 1], offset: ?>>
    %out = memref.subview %y[%i, 0] [1, 256] [1, 1] : memref<4x256xf32> to memref<1x256xf32, strided<[256, 1], offset: ?>>
    %m = memref.alloc() : memref<1xf32>
    linalg.generic {indexing_maps = [#one], iterator_types = ["parallel"]} outs(%m : memref<1xf32>) {
    ^bb0(%o: f32):
      linalg.yield %ninf : f32
    }
    linalg.generic {indexing_maps = [#row, #red], iterator_types = ["parallel", "reduction"]} ins(%row : memref<1x256xf32, strided<[256, 1], offset: ?>>) outs(%m : memref<1xf32>) {
    ^bb0(%a: f32, %o: f32):
      %0 = arith.maximumf %a, %o : f32
      linalg.yield %0 : f32
    }
    linalg.generic {indexing_maps = [#row, #red, #row], iterator_types = ["parallel", "parallel"]} ins(%row, %m : memref<1x256xf32, strided<[256, 1], offset: ?>>, memref<1xf32>) outs(%out : memref<1x256xf32, strided<[256, 1], offset: ?>>) {
    ^bb0(%a: f32, %b: f32, %o: f32):
      %0 = arith.subf %a, %b : f32
      %1 = math.exp %0 : f32
      linalg.yield %1 : f32
    }
    %s = memref.alloc() : memref<1xf32>
    linalg.generic {indexing_maps = [#one], iterator_types = ["parallel"]} outs(%s : memref<1xf32>) {
    ^bb0(%o: f32):
      linalg.yield %zero : f32
    }
    linalg.generic {indexing_maps = [#row, #red], iterator_types = ["parallel", "reduction"]} ins(%out : memref<1x256xf32, strided<[256, 1], offset: ?>>) outs(%s : memref<1xf32>) {
    ^bb0(%a: f32, %o: f32):
      %0 = arith.addf %a, %o : f32
      linalg.yield %0 : f32
    }
    linalg.generic {indexing_maps = [#row, #red, #row], iterator_types = ["parallel", "parallel"]} ins(%out, %s : memref<1x256xf32, strided<[256, 1], offset: ?>>, memref<1xf32>) outs(%out : memref<1x256xf32, strided<[256, 1], offset: ?>>) {
    ^bb0(%a: f32, %b: f32, %o: f32):
      %0 = arith.divf %a, %b : f32
      linalg.yield %0 : f32
    }
  }
  return
}

// Sixteen rows: a row per warp, eight per block of 256 threads. Each lane holds two
// vectors of its row; reductions are warp shuffles (no gpu.all_reduce, no shared
// memory read); no barrier is left, as no thread reads what another wrote.
// CHECK-LABEL: func.func @softmax_warps
// CHECK: gpu.launch blocks({{.*}}) in ({{.*}} = %c2{{.*}}) threads({{.*}}) in ({{.*}} = %c256
// CHECK-SAME: workgroup({{.*}} : memref<8x1xf32, #gpu.address_space<workgroup>>
// CHECK-COUNT-2: vector.load
// CHECK-NOT: vector.load
// CHECK-COUNT-5: gpu.shuffle xor
// CHECK: math.exp
// CHECK-COUNT-5: gpu.shuffle xor
// CHECK: arith.divf
// CHECK: vector.store
// CHECK: arith.divf
// CHECK: vector.store
// CHECK-NOT: vector.store
// CHECK: gpu.terminator
// WARP-LABEL: func.func @softmax_warps
// WARP-NOT: gpu.all_reduce
// WARP-NOT: gpu.barrier
// WARP-NOT: memref.load
// WARP: gpu.terminator
func.func @softmax_warps(%x: memref<16x256xf32>, %y: memref<16x256xf32>) attributes {mlirfuse.abi} {
  %ninf = arith.constant 0xFF800000 : f32
  %zero = arith.constant 0.000000e+00 : f32
  scf.forall (%i) in (16) {
    %row = memref.subview %x[%i, 0] [1, 256] [1, 1] : memref<16x256xf32> to memref<1x256xf32, strided<[256, 1], offset: ?>>
    %out = memref.subview %y[%i, 0] [1, 256] [1, 1] : memref<16x256xf32> to memref<1x256xf32, strided<[256, 1], offset: ?>>
    %m = memref.alloc() : memref<1xf32>
    linalg.generic {indexing_maps = [#one], iterator_types = ["parallel"]} outs(%m : memref<1xf32>) {
    ^bb0(%o: f32):
      linalg.yield %ninf : f32
    }
    linalg.generic {indexing_maps = [#row, #red], iterator_types = ["parallel", "reduction"]} ins(%row : memref<1x256xf32, strided<[256, 1], offset: ?>>) outs(%m : memref<1xf32>) {
    ^bb0(%a: f32, %o: f32):
      %0 = arith.maximumf %a, %o : f32
      linalg.yield %0 : f32
    }
    linalg.generic {indexing_maps = [#row, #red, #row], iterator_types = ["parallel", "parallel"]} ins(%row, %m : memref<1x256xf32, strided<[256, 1], offset: ?>>, memref<1xf32>) outs(%out : memref<1x256xf32, strided<[256, 1], offset: ?>>) {
    ^bb0(%a: f32, %b: f32, %o: f32):
      %0 = arith.subf %a, %b : f32
      %1 = math.exp %0 : f32
      linalg.yield %1 : f32
    }
    %s = memref.alloc() : memref<1xf32>
    linalg.generic {indexing_maps = [#one], iterator_types = ["parallel"]} outs(%s : memref<1xf32>) {
    ^bb0(%o: f32):
      linalg.yield %zero : f32
    }
    linalg.generic {indexing_maps = [#row, #red], iterator_types = ["parallel", "reduction"]} ins(%out : memref<1x256xf32, strided<[256, 1], offset: ?>>) outs(%s : memref<1xf32>) {
    ^bb0(%a: f32, %o: f32):
      %0 = arith.addf %a, %o : f32
      linalg.yield %0 : f32
    }
    linalg.generic {indexing_maps = [#row, #red, #row], iterator_types = ["parallel", "parallel"]} ins(%out, %s : memref<1x256xf32, strided<[256, 1], offset: ?>>, memref<1xf32>) outs(%out : memref<1x256xf32, strided<[256, 1], offset: ?>>) {
    ^bb0(%a: f32, %b: f32, %o: f32):
      %0 = arith.divf %a, %b : f32
      linalg.yield %0 : f32
    }
  }
  return
}

// Softmax over bf16 rows, exp's row an f32 temporary (the bf16 softmax torch
// decomposes): alone, the max would read 8 bf16 a vector and exp 4 (its f32 output),
// a lane taking other points in each. mlirfuse.lanes gives every op 4: the row is read
// once (2 vectors a lane), exp's row stays in registers (its stores to shared memory
// dropped, nothing reads them) and the results are stored 4 bf16 a vector. The
// division by the row's sum, rounded to bf16, is one reciprocal a row and a multiply
// per element (gpu_body: one arith.divf left after cse).
// CHECK-LABEL: func.func @softmax_bf16_rows
// CHECK-NOT: vector<8xbf16>
// CHECK-COUNT-2: vector.load {{.*}} vector<4xbf16>
// CHECK-NOT: vector.load
// CHECK-NOT: memref.load
// CHECK-NOT: {{(vector|memref)}}.store {{.*}}workgroup
// CHECK: arith.divf %cst{{.*}} : f32
// CHECK-NOT: arith.divf
// CHECK: vector.store {{.*}} vector<4xbf16>
// CHECK-NOT: arith.divf
// CHECK: vector.store {{.*}} vector<4xbf16>
// CHECK-NOT: vector.store
// CHECK: gpu.terminator
func.func @softmax_bf16_rows(%x: memref<16x256xbf16>, %y: memref<16x256xbf16>) attributes {mlirfuse.abi} {
  %ninf = arith.constant 0xFF800000 : f32
  %zero = arith.constant 0.000000e+00 : f32
  scf.forall (%i) in (16) {
    %row = memref.subview %x[%i, 0] [1, 256] [1, 1] : memref<16x256xbf16> to memref<1x256xbf16, strided<[256, 1], offset: ?>>
    %out = memref.subview %y[%i, 0] [1, 256] [1, 1] : memref<16x256xbf16> to memref<1x256xbf16, strided<[256, 1], offset: ?>>
    %m = memref.alloc() : memref<1xf32>
    linalg.generic {indexing_maps = [#one], iterator_types = ["parallel"]} outs(%m : memref<1xf32>) {
    ^bb0(%o: f32):
      linalg.yield %ninf : f32
    }
    linalg.generic {indexing_maps = [#row, #red], iterator_types = ["parallel", "reduction"]} ins(%row : memref<1x256xbf16, strided<[256, 1], offset: ?>>) outs(%m : memref<1xf32>) {
    ^bb0(%a: bf16, %o: f32):
      %0 = arith.extf %a : bf16 to f32
      %1 = arith.maximumf %0, %o : f32
      linalg.yield %1 : f32
    }
    %e = memref.alloc() : memref<1x256xf32>
    linalg.generic {indexing_maps = [#row, #red, #row], iterator_types = ["parallel", "parallel"]} ins(%row, %m : memref<1x256xbf16, strided<[256, 1], offset: ?>>, memref<1xf32>) outs(%e : memref<1x256xf32>) {
    ^bb0(%a: bf16, %b: f32, %o: f32):
      %0 = arith.extf %a : bf16 to f32
      %1 = arith.subf %0, %b : f32
      %2 = math.exp %1 : f32
      linalg.yield %2 : f32
    }
    %s = memref.alloc() : memref<1xf32>
    linalg.generic {indexing_maps = [#one], iterator_types = ["parallel"]} outs(%s : memref<1xf32>) {
    ^bb0(%o: f32):
      linalg.yield %zero : f32
    }
    linalg.generic {indexing_maps = [#row, #red], iterator_types = ["parallel", "reduction"]} ins(%e : memref<1x256xf32>) outs(%s : memref<1xf32>) {
    ^bb0(%a: f32, %o: f32):
      %0 = arith.addf %a, %o : f32
      linalg.yield %0 : f32
    }
    linalg.generic {indexing_maps = [#row, #red, #row], iterator_types = ["parallel", "parallel"]} ins(%e, %s : memref<1x256xf32>, memref<1xf32>) outs(%out : memref<1x256xbf16, strided<[256, 1], offset: ?>>) {
    ^bb0(%a: f32, %b: f32, %o: bf16):
      %0 = arith.divf %a, %b : f32
      %1 = arith.truncf %0 : f32 to bf16
      linalg.yield %1 : bf16
    }
  }
  return
}

// A tile written by one op and read transposed by the next: another thread wrote
// what each thread reads, so the read is a load after a barrier, not a register.
// The tile is stored in 16-byte vectors: workgroup buffers are declared 16-byte aligned
// (mlirfuse-workgroup-buffers).
// CHECK-LABEL: func.func @transposed_reuse
// CHECK: gpu.launch
// CHECK: math.exp
// CHECK: vector.store {{.*}} {alignment = 16 : i64} : memref<16x16xf32, #gpu.address_space<workgroup>>, vector<4xf32>
// CHECK: gpu.barrier
// CHECK: memref.load {{.*}} #gpu.address_space<workgroup>
func.func @transposed_reuse(%x: memref<2x16x16xf32>, %y: memref<2x16x16xf32>) attributes {mlirfuse.abi} {
  scf.forall (%i) in (2) {
    %in = memref.subview %x[%i, 0, 0] [1, 16, 16] [1, 1, 1] : memref<2x16x16xf32> to memref<16x16xf32, strided<[16, 1], offset: ?>>
    %out = memref.subview %y[%i, 0, 0] [1, 16, 16] [1, 1, 1] : memref<2x16x16xf32> to memref<16x16xf32, strided<[16, 1], offset: ?>>
    %t = memref.alloc() : memref<16x16xf32>
    linalg.generic {indexing_maps = [#row, #row], iterator_types = ["parallel", "parallel"]} ins(%in : memref<16x16xf32, strided<[16, 1], offset: ?>>) outs(%t : memref<16x16xf32>) {
    ^bb0(%a: f32, %o: f32):
      %0 = math.exp %a : f32
      linalg.yield %0 : f32
    }
    linalg.generic {indexing_maps = [#t, #row], iterator_types = ["parallel", "parallel"]} ins(%t : memref<16x16xf32>) outs(%out : memref<16x16xf32, strided<[16, 1], offset: ?>>) {
    ^bb0(%a: f32, %o: f32):
      linalg.yield %a : f32
    }
  }
  return
}

// A copy into rows 13 elements apart (the slice [:, :12] of a [2, 13] buffer, seen in
// GPT-2's forward graph): the first row starts 16-byte aligned, the second 104 bytes
// later. Two-wide i64 vector stores there were "misaligned address" on the H200; the
// rows' stride must be a multiple of the vector too, so this copy stays scalar.
// CHECK-LABEL: func.func @rows_not_vector_aligned
// CHECK-NOT: vector.store
// CHECK: memref.store
// CHECK: gpu.terminator
func.func @rows_not_vector_aligned(%x: memref<2x12xi64>, %y: memref<2x13xi64>) attributes {mlirfuse.abi} {
  %rows = memref.subview %y[0, 0] [2, 12] [1, 1] : memref<2x13xi64> to memref<2x12xi64, strided<[13, 1]>>
  scf.forall (%i) in (1) {
    linalg.generic {indexing_maps = [#row, #row], iterator_types = ["parallel", "parallel"]} ins(%x : memref<2x12xi64>) outs(%rows : memref<2x12xi64, strided<[13, 1]>>) {
    ^bb0(%a: i64, %o: i64):
      linalg.yield %a : i64
    }
  }
  return
}

// Symbolic sizes: rows of 256 over a `?` row count (the tile's sizes stay static). The
// grid comes from the row count, computed on the host at the call, with no launch when
// it is 0. A row reduction packs a row per warp as static code does: 8 rows a block of
// 256 threads, the grid the row count / 8 rounded up, the last block's warps past the
// end skipping their row (a warp-uniform branch); each lane loads its vectors once and
// the warp reduces with shuffles, no barrier. (A block per row, reduced through shared
// memory with barriers, was 1.23x the static code's time on softmax on the H200.)
// CHECK-LABEL: func.func @rows_of_a_symbolic_count
// CHECK: %[[N:.*]] = memref.dim %{{.*}}, %c0 : memref<?x256xf32>
// CHECK: %[[ANY:.*]] = arith.cmpi sgt, %[[N]], %c0
// CHECK: scf.if %[[ANY]]
// CHECK: %[[BLOCKS:.*]] = arith.ceildivui %[[N]], %c8
// CHECK: gpu.launch blocks(%[[B:arg[0-9]+]], {{.*}}) in ({{.*}} = %[[BLOCKS]], {{.*}}) threads(%[[T:arg[0-9]+]], {{.*}}) in ({{.*}} = %c256
// CHECK: %[[W:.*]] = arith.divui %[[T]], %c32
// CHECK: %[[FIRST:.*]] = arith.muli %[[B]], %c8
// CHECK: %[[ROW:.*]] = arith.addi %[[FIRST]], %[[W]]
// CHECK: %[[IN:.*]] = arith.cmpi ult, %[[ROW]], %[[N]]
// CHECK: scf.if %[[IN]]
// CHECK: memref.subview %{{.*}}[%[[ROW]], 0] [1, 256]
// CHECK: vector.load
// CHECK: gpu.shuffle xor
// CHECK-NOT: gpu.barrier
// CHECK: gpu.terminator
// WARP-LABEL: func.func @rows_of_a_symbolic_count
// WARP-NOT: gpu.all_reduce
// WARP: return
func.func @rows_of_a_symbolic_count(%x: memref<?x256xf32>, %y: memref<?x256xf32>) attributes {mlirfuse.abi} {
  %c0 = arith.constant 0 : index
  %ninf = arith.constant 0xFF800000 : f32
  %n = memref.dim %x, %c0 : memref<?x256xf32>
  scf.forall (%i) in (%n) {
    %row = memref.subview %x[%i, 0] [1, 256] [1, 1] : memref<?x256xf32> to memref<1x256xf32, strided<[256, 1], offset: ?>>
    %out = memref.subview %y[%i, 0] [1, 256] [1, 1] : memref<?x256xf32> to memref<1x256xf32, strided<[256, 1], offset: ?>>
    %m = memref.alloc() : memref<1xf32>
    linalg.generic {indexing_maps = [#one], iterator_types = ["parallel"]} outs(%m : memref<1xf32>) {
    ^bb0(%o: f32):
      linalg.yield %ninf : f32
    }
    linalg.generic {indexing_maps = [#row, #red], iterator_types = ["parallel", "reduction"]} ins(%row : memref<1x256xf32, strided<[256, 1], offset: ?>>) outs(%m : memref<1xf32>) {
    ^bb0(%a: f32, %o: f32):
      %0 = arith.maximumf %a, %o : f32
      linalg.yield %0 : f32
    }
    linalg.generic {indexing_maps = [#row, #red, #row], iterator_types = ["parallel", "parallel"]} ins(%row, %m : memref<1x256xf32, strided<[256, 1], offset: ?>>, memref<1xf32>) outs(%out : memref<1x256xf32, strided<[256, 1], offset: ?>>) {
    ^bb0(%a: f32, %b: f32, %o: f32):
      %0 = arith.subf %a, %b : f32
      linalg.yield %0 : f32
    }
  }
  return
}

// An op outside any kernel on symbolic sizes (one loop of symbolic extent, the rest
// static): a block per point of that loop, each on the rows' slices (static tiles); the
// grid is that extent, read on the host. torch-mlir's check of the sizes stays on the
// host (before: a kernel of one thread, which a failed assert would trap).
// CHECK-LABEL: func.func @standalone_rows
// CHECK: %[[N:.*]] = memref.dim %{{.*}}, %c0 : memref<?x512xf32>
// CHECK: cf.assert %{{.*}}, "mismatched size for broadcast"
// CHECK: gpu.launch blocks(%[[B:arg[0-9]+]], {{.*}}) in ({{.*}} = %[[N]], {{.*}}) threads({{.*}}) in ({{.*}} = %c128
// CHECK: memref.subview %{{.*}}[%[[B]], 0] [1, 512] [1, 1] : memref<?x512xf32> to memref<1x512xf32, strided<[512, 1], offset: ?>>
// CHECK: memref.subview %{{.*}}[%[[B]], 0] [1, 512] [1, 1] : memref<?x512xf32, strided<[2048, 1], offset: 512>> to memref<1x512xf32, strided<[2048, 1], offset: ?>>
// CHECK: vector.load
// CHECK: math.tanh
// CHECK: vector.store
// CHECK-NOT: gpu.launch
func.func @standalone_rows(%x: memref<?x512xf32>, %y: memref<?x2048xf32>, %ok: i1) attributes {mlirfuse.abi} {
  %c0 = arith.constant 0 : index
  %n = memref.dim %x, %c0 : memref<?x512xf32>
  %ys = memref.subview %y[0, 512] [%n, 512] [1, 1] : memref<?x2048xf32> to memref<?x512xf32, strided<[2048, 1], offset: 512>>
  cf.assert %ok, "mismatched size for broadcast"
  linalg.generic {indexing_maps = [#row, #row], iterator_types = ["parallel", "parallel"]} ins(%x : memref<?x512xf32>) outs(%ys : memref<?x512xf32, strided<[2048, 1], offset: 512>>) {
  ^bb0(%a: f32, %o: f32):
    %0 = math.tanh %a : f32
    linalg.yield %0 : f32
  }
  return
}

// A tile of symbolic size (attention's row over a symbolic key count): the block reduces
// it with loops bounded at run time (memref.dim of the tile's view), scalar code, then
// gpu.all_reduce; the parallel op after it strides over the same row.
// CHECK-LABEL: func.func @tile_of_symbolic_size
// CHECK: %[[K:.*]] = memref.dim %{{.*}}, %c1 : memref<8x?xf32>
// CHECK: gpu.launch blocks({{.*}}) in ({{.*}} = %c8, {{.*}}) threads({{.*}}) in ({{.*}} = %c256
// CHECK: scf.for %{{.*}} = %{{.*}} to %[[K]] step %c256
// CHECK: gpu.all_reduce maximumf
// CHECK: scf.for %{{.*}} = %{{.*}} to %{{.*}} step %c256
// CHECK: arith.subf
// CHECK-NOT: vector.load
// CHECK: gpu.terminator
func.func @tile_of_symbolic_size(%x: memref<8x?xf32>, %y: memref<8x?xf32>) attributes {mlirfuse.abi} {
  %c1 = arith.constant 1 : index
  %ninf = arith.constant 0xFF800000 : f32
  %k = memref.dim %x, %c1 : memref<8x?xf32>
  scf.forall (%i) in (8) {
    %row = memref.subview %x[%i, 0] [1, %k] [1, 1] : memref<8x?xf32> to memref<1x?xf32, strided<[?, 1], offset: ?>>
    %out = memref.subview %y[%i, 0] [1, %k] [1, 1] : memref<8x?xf32> to memref<1x?xf32, strided<[?, 1], offset: ?>>
    %m = memref.alloc() : memref<1xf32>
    linalg.generic {indexing_maps = [#one], iterator_types = ["parallel"]} outs(%m : memref<1xf32>) {
    ^bb0(%o: f32):
      linalg.yield %ninf : f32
    }
    linalg.generic {indexing_maps = [#row, #red], iterator_types = ["parallel", "reduction"]} ins(%row : memref<1x?xf32, strided<[?, 1], offset: ?>>) outs(%m : memref<1xf32>) {
    ^bb0(%a: f32, %o: f32):
      %0 = arith.maximumf %a, %o : f32
      linalg.yield %0 : f32
    }
    linalg.generic {indexing_maps = [#row, #red, #row], iterator_types = ["parallel", "parallel"]} ins(%row, %m : memref<1x?xf32, strided<[?, 1], offset: ?>>, memref<1xf32>) outs(%out : memref<1x?xf32, strided<[?, 1], offset: ?>>) {
    ^bb0(%a: f32, %b: f32, %o: f32):
      %0 = arith.subf %a, %b : f32
      linalg.yield %0 : f32
    }
  }
  return
}

// torch-mlir's reshape to symbolic sizes fills a shape buffer on the host and reads it in
// memref.reshape; on the GPU that buffer would be device memory (the workspace): the
// reshape becomes a reinterpret_cast of the stored sizes, the buffer and stores go.
// CHECK-LABEL: func.func @reshape_to_symbolic_sizes
// CHECK-NOT: memref.alloc
// CHECK-NOT: memref.store
// CHECK: %[[N:.*]] = arith.index_cast %{{.*}} : i64 to index
// CHECK: %[[S:.*]] = arith.muli %[[N]], %c128
// CHECK: memref.reinterpret_cast %{{.*}} to offset: [0], sizes: [2, %[[N]], 4, 32], strides: [%[[S]], 128, 32, 1]
// CHECK-NOT: memref.reshape
func.func @reshape_to_symbolic_sizes(%x: memref<2x?x128xf32>, %n: i64) -> memref<2x?x4x32xf32> attributes {mlirfuse.abi} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %c3 = arith.constant 3 : index
  %c2_i64 = arith.constant 2 : i64
  %c4_i64 = arith.constant 4 : i64
  %c32_i64 = arith.constant 32 : i64
  %shape = memref.alloc() : memref<4xi64>
  memref.store %c2_i64, %shape[%c0] : memref<4xi64>
  memref.store %n, %shape[%c1] : memref<4xi64>
  memref.store %c4_i64, %shape[%c2] : memref<4xi64>
  memref.store %c32_i64, %shape[%c3] : memref<4xi64>
  %r = memref.reshape %x(%shape) : (memref<2x?x128xf32>, memref<4xi64>) -> memref<2x?x4x32xf32>
  return %r : memref<2x?x4x32xf32>
}

// A row's other sizes come from the buffer when its type does not give them (the input
// is [?, ?], the output [?, 512]): the slice reads it with memref.dim (before: a slice of
// static size -1, which does not verify).
// CHECK-LABEL: func.func @rows_of_a_buffer_of_unknown_width
// CHECK: gpu.launch
// CHECK: memref.subview %{{.*}}[%{{.*}}, 0] [1, %{{.*}}] [1, 1] : memref<?x?xf32> to memref<1x?xf32, strided<[?, 1], offset: ?>>
// CHECK: memref.subview %{{.*}}[%{{.*}}, 0] [1, 512] [1, 1] : memref<?x512xf32>
func.func @rows_of_a_buffer_of_unknown_width(%x: memref<?x?xf32>, %y: memref<?x512xf32>) attributes {mlirfuse.abi} {
  linalg.generic {indexing_maps = [#row, #row], iterator_types = ["parallel", "parallel"]} ins(%x : memref<?x?xf32>) outs(%y : memref<?x512xf32>) {
  ^bb0(%a: f32, %o: f32):
    %0 = math.tanh %a : f32
    linalg.yield %0 : f32
  }
  return
}

// A constant table of the graph (an index table of a decomposition, a global of the
// host module) that a kernel reads is read inside the launch: gpu-kernel-outlining then
// copies the global into the kernel's module, a global of device memory. Before, the
// kernel was given the host global's address.
// CHECK-LABEL: func.func @constant_table
// CHECK-NOT: memref.get_global
// CHECK: gpu.launch
// CHECK: memref.get_global @table : memref<2x6xi64>
// CHECK: memref.subview
// CHECK: gpu.terminator
memref.global "private" constant @table : memref<2x6xi64> = dense<[[0, 1, 2, 3, 4, 5], [5, 4, 3, 2, 1, 0]]>
func.func @constant_table(%x: memref<6xi64>, %y: memref<6xi64>) attributes {mlirfuse.abi} {
  %g = memref.get_global @table : memref<2x6xi64>
  %row = memref.subview %g[1, 0] [1, 6] [1, 1] : memref<2x6xi64> to memref<6xi64, strided<[1], offset: 6>>
  linalg.generic {indexing_maps = [#one, #one, #one], iterator_types = ["parallel"]} ins(%x, %row : memref<6xi64>, memref<6xi64, strided<[1], offset: 6>>) outs(%y : memref<6xi64>) {
  ^bb0(%a: i64, %b: i64, %o: i64):
    %0 = arith.addi %a, %b : i64
    linalg.yield %0 : i64
  }
  return
}

// A tile temporary of symbolic size in a kernel of 4 tiles (attention scores over a
// symbolic cache length, %n defined before the loop): one global buffer [4, %n] allocated
// on the host (mlirfuse-workspace places it), each block its row, its size read from the
// buffer (canonicalize folds that to %n). Before: "a tile temporary of symbolic size; the
// GPU target needs static ones".
// CHECK-LABEL: func.func @symbolic_tile_temporary
// CHECK: %[[N:.*]] = memref.dim
// CHECK: %[[BIG:.*]] = memref.alloc(%[[N]]) : memref<4x?xf32>
// CHECK: gpu.launch blocks({{.*}}) in ({{.*}} = %c4
// CHECK: memref.subview %[[BIG]][%{{.*}}, 0] [1, %[[N]]] [1, 1] : memref<4x?xf32> to memref<?xf32, strided<[1], offset: ?>>
// CHECK: math.exp
func.func @symbolic_tile_temporary(%x: memref<4x?xf32>, %y: memref<4x?xf32>) attributes {mlirfuse.abi} {
  %c1 = arith.constant 1 : index
  %n = memref.dim %x, %c1 : memref<4x?xf32>
  scf.forall (%i) in (4) {
    %row = memref.subview %x[%i, 0] [1, %n] [1, 1] : memref<4x?xf32> to memref<?xf32, strided<[1], offset: ?>>
    %out = memref.subview %y[%i, 0] [1, %n] [1, 1] : memref<4x?xf32> to memref<?xf32, strided<[1], offset: ?>>
    %t = memref.alloc(%n) : memref<?xf32>
    linalg.generic {indexing_maps = [#one, #one], iterator_types = ["parallel"]} ins(%row : memref<?xf32, strided<[1], offset: ?>>) outs(%t : memref<?xf32>) {
    ^bb0(%a: f32, %o: f32):
      %0 = math.exp %a : f32
      linalg.yield %0 : f32
    }
    linalg.generic {indexing_maps = [#one, #one], iterator_types = ["parallel"]} ins(%t : memref<?xf32>) outs(%out : memref<?xf32, strided<[1], offset: ?>>) {
    ^bb0(%a: f32, %o: f32):
      %0 = arith.addf %a, %a : f32
      linalg.yield %0 : f32
    }
    memref.dealloc %t : memref<?xf32>
  }
  return
}

// A copy outside kernels of symbolic shape (Llama's rotary halves concatenated over a
// symbolic sequence length): a grid sized on the host from the source's sizes, skipped
// when empty, each thread striding over the elements. Before: an internal error
// ("std::bad_cast": the element count was the product of the dynamic-size sentinel).
// CHECK-LABEL: func.func @copy_of_symbolic_shape
// CHECK: %[[N:.*]] = memref.dim %{{.*}}, %c0 : memref<?x16xf32>
// CHECK: %[[WORK:.*]] = arith.muli %[[N]], %c16
// CHECK: %[[BLOCKS:.*]] = arith.minui
// CHECK: scf.if
// CHECK: gpu.launch blocks({{.*}}) in ({{.*}} = %[[BLOCKS]]
// CHECK: scf.for
// CHECK: memref.load
// CHECK: memref.store
func.func @copy_of_symbolic_shape(%x: memref<?x16xf32>, %y: memref<?x32xf32>) attributes {mlirfuse.abi} {
  %c0 = arith.constant 0 : index
  %n = memref.dim %x, %c0 : memref<?x16xf32>
  %half = memref.subview %y[0, 16] [%n, 16] [1, 1] : memref<?x32xf32> to memref<?x16xf32, strided<[32, 1], offset: 16>>
  memref.copy %x, %half : memref<?x16xf32> to memref<?x16xf32, strided<[32, 1], offset: 16>>
  return
}

// A row of an op outside kernels reads its own row's index: linalg.index along the rows'
// loop is the block's row (GPT-2's position embedding, wpe[arange(seq)], over a symbolic
// sequence length). Before: the slice's index, 0, so every row read table row 0.
// CHECK-LABEL: func.func @standalone_rows_read_their_index
// CHECK: gpu.launch blocks(%[[B:arg[0-9]+]], {{.*}}) in ({{.*}} = %{{.*}}, {{.*}}) threads
// CHECK-NOT: linalg.index
// CHECK: memref.load %{{.*}}[%[[B]], %{{.*}}] : memref<128x64xf32>
#rows3 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
func.func @standalone_rows_read_their_index(%t: memref<128x64xf32>, %y: memref<2x?x64xf32>) attributes {mlirfuse.abi} {
  linalg.generic {indexing_maps = [#rows3], iterator_types = ["parallel", "parallel", "parallel"]} outs(%y : memref<2x?x64xf32>) {
  ^bb0(%o: f32):
    %i = linalg.index 1 : index
    %d = linalg.index 2 : index
    %v = memref.load %t[%i, %d] : memref<128x64xf32>
    linalg.yield %v : f32
  }
  return
}

// A row too large for one block (the transformer's [?, 128, 512] -> [128, ?, 512]
// transpose over a symbolic batch: 16 K vectors a row) is spread over as many blocks as
// give each thread one vector, as the static code's grid does: the grid is the row count
// times 64, block b runs part b % 64 of row b / 64. The output row's outer stride is
// dynamic (? x 512) but a multiple of 512, so it takes vector stores (its rows stay
// 16-byte aligned). Before: a block per row, scalar stores: 4 blocks for 256 K
// elements, 62 us on the H200 against the static code's 7.
#sbd = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
#bsd = affine_map<(d0, d1, d2) -> (d1, d0, d2)>
// CHECK-LABEL: func.func @standalone_rows_over_several_blocks
// CHECK: %[[N:.*]] = memref.dim %{{.*}}, %c0 : memref<?x128x512xf32>
// CHECK: %[[BLOCKS:.*]] = arith.muli %[[N]], %c64
// CHECK: gpu.launch blocks(%[[B:arg[0-9]+]], {{.*}}) in ({{.*}} = %[[BLOCKS]], {{.*}}) threads(%[[T:arg[0-9]+]], {{.*}}) in ({{.*}} = %c256
// CHECK: %[[ROW:.*]] = arith.divui %[[B]], %c64
// CHECK: %[[PART:.*]] = arith.remui %[[B]], %c64
// CHECK: %[[FIRST:.*]] = arith.muli %[[PART]], %c256
// CHECK: arith.addi %[[FIRST]], %[[T]]
// CHECK: memref.subview %{{.*}}[%[[ROW]], 0, 0] [1, 128, 512]
// CHECK: memref.subview %{{.*}}[0, %[[ROW]], 0] [128, 1, 512] {{.*}} to memref<128x1x512xf32, strided<[?, 512, 1], offset: ?>>
// CHECK: vector.load
// CHECK: vector.store
// CHECK-NOT: memref.store
func.func @standalone_rows_over_several_blocks(%x: memref<?x128x512xf32>, %y: memref<128x?x512xf32>) attributes {mlirfuse.abi} {
  linalg.generic {indexing_maps = [#sbd, #bsd], iterator_types = ["parallel", "parallel", "parallel"]} ins(%x : memref<?x128x512xf32>) outs(%y : memref<128x?x512xf32>) {
  ^bb0(%a: f32, %o: f32):
    linalg.yield %a : f32
  }
  return
}
