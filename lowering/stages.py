"""The stages of each target and the pass pipelines between them, as data.

A pipeline is a list of pass-pipeline elements as `mlirfuse-opt --pass-pipeline`
takes them inside `builtin.module(...)`; mlirfuse passes (`mlirfuse-*`) mix
freely with upstream and torch-mlir passes. Each group has a comment saying why.
"""

from ..compiler.passes import library_gemm
from .cuda import align_gemm_rows

# Raw FX import → torch backend contract (value semantics, shapes and dtypes known).
TORCH = [
    "func.func(torch-match-quantized-custom-ops)",
    "torchdynamo-export-to-torch-backend-pipeline",
]

# torch backend contract → linalg on tensors (plus tm_tensor for scan, sort, topk, scatter):
# torch-backend-to-linalg-on-tensors-backend-pipeline, whose last pass, the contract's
# check, rejected extern calls (compiler/extern.py); mlirfuse's check allows them.
LINALG = [
    *[f"func.func({p})" for p in (
        "torch-restructure-non-constant-axes", "torch-fuse-quantized-ops",
        "convert-torch-to-tmtensor{allow-non-finites=true}", "canonicalize",
        "convert-torch-to-linalg{allow-non-finites=true}", "canonicalize",
        "convert-torch-to-scf", "convert-torch-to-arith", "convert-torch-to-tensor")],
    "convert-torch-conversion-to-mlprogram",
    *[f"func.func({p})" for p in (
        "memref-expand", "canonicalize", "resolve-shaped-type-result-dims", "cse")],
    "torch-func-backend-type-conversion",
    "func.func(canonicalize)",
    "func.func(torch-finalizing-backend-type-conversion)",
    "mlirfuse-verify-backend-contract",
]

# linalg on tensors → fusion groups: the kernels, each an isolated mlirfuse.group.
def fused(concat_as_select: bool = True, conv_as_gemm: bool = True,
          library_convolutions: bool = False, half_contractions: bool = False) -> list[str]:
    """linalg on tensors → fusion groups, matmuls outside them (for the BLAS: MKL, cuBLAS,
    mlirfuse-library-gemm); concat_as_select=False (the GPU) keeps concatenations as a
    kernel per piece; conv_as_gemm makes 2-D convolutions an im2col gather and a matmul
    (the CPU) and its convolutions' extern calls channels-last; library_convolutions keeps them outside kernels too, for cuDNN (the GPU,
    mlirfuse-library-conv: eager's own kernel, where im2col + cuBLAS took 20x eager's
    time and the generated direct convolution 130x) and half-precision matmuls summed in
    f32 outside kernels too where half_contractions, for cuBLAS's tensor cores
    (generated, GPT-2 124M in bf16 took 1.1 s a call on the H200)."""
    return [
        # torch-mlir's views to more than one symbolic size are reshapes of computed sizes,
        # which no fusion crosses: as expand/collapse_shape where they only split or merge
        # static dimensions (attention's [b * h, s, s] <-> [b, h, s, s]).
        "mlirfuse-reshape-to-expand",
        # torch-mlir's asserts where eager has none (batch_norm's): they abort the process.
        "mlirfuse-drop-asserts",
        # torch-mlir's clamps took the bound for a NaN input (eager: NaN).
        "mlirfuse-clamp-nan",
        *(["mlirfuse-conv-to-gemm", "mlirfuse-channels-last-convs{measure=true}"]
          if conv_as_gemm else []),
        # torch's pads become fills and insert_slices; concatenations become one select
        # over zero-padded pieces (fusible on the CPU; on the GPU a piece's tile would be
        # computed under an scf.if, so there each piece is its own kernel writing its
        # slice of the result); any concat left becomes insert_slices.
        "func.func(refback-generalize-tensor-pad)",
        *(["mlirfuse-concat-to-select"] if concat_as_select else []),
        "func.func(refback-generalize-tensor-concat)",
        # Named ops become generics, so transposes and broadcasts fold into their consumers'
        # indexing maps; unit dims go (reductions then tile); elementwise chains merge.
        "func.func(linalg-generalize-named-ops)",
        # cuDNN overwrites; the bias joins the epilogue kernel (not a broadcast kernel first).
        *(["mlirfuse-conv-bias-epilogue"] if library_convolutions else []),
        # a + x @ w: the contraction accumulates into a (no elementwise pass over the sum).
        "mlirfuse-fold-accumulation",
        # ...but computations stay out of contractions (once per element, not per multiply-add).
        "mlirfuse-shield-contractions" + ("{half=true}" if half_contractions else ""),
        # An elementwise op whose result is only sliced (the LSTM's gates.chunk(4)) is
        # computed on the slices, so each piece fuses into its consumer.
        "mlirfuse-bubble-up-slices",
        "func.func(linalg-fold-unit-extent-dims, linalg-fuse-elementwise-ops, canonicalize, cse)",
        # A cheap merged chain read by several ops (layer_norm's x_hat in its backward) is
        # computed again in each reader instead of written once and read back.
        "mlirfuse-recompute-pointwise",
        "func.func(linalg-fuse-elementwise-ops, canonicalize, cse)",
        # A merged chain used elsewhere too (the LSTM's cy) becomes a second result of its
        # elementwise consumer: upstream fusion takes single-use producers only.
        "mlirfuse-fuse-multi-use",
        # Once chains are merged: f16 and bf16 arithmetic in f32, rounded once at the store
        # (as eager and inductor compute a fused kernel; not after every op).
        "mlirfuse-widen-half",
        # tanh(softplus(x)) as one exp and one division (mish).
        "mlirfuse-simplify-math",
        "mlirfuse-shield-contractions{remove=true}",
        # Reductions over 64K+ elements: blocked partial sums (accuracy, and a parallel loop).
        "mlirfuse-split-reductions",
        # Matmuls stay untiled, outside every kernel: library calls (mlirfuse-library-gemm).
        "mlirfuse-form-fusion-groups{library-contractions=true"
        + (" library-convolutions=true" if library_convolutions else "")
        + (" half-contractions=true" if half_contractions else "") + "}",
    ]


FUSED = fused()

# Without fusion (option fuse=False, the baseline benchmarks compare with): every
# linalg op stays a kernel of its own.
UNFUSED = [
    "mlirfuse-clamp-nan",
    "func.func(refback-generalize-tensor-pad, refback-generalize-tensor-concat)",
]

# Fusion groups → guarded entry: results become caller-allocated destinations, and every
# argument gets a guard stating the sizes and strides the code is specialized for.
GUARDED = [
    "mlirfuse-destination-style-abi",
    "mlirfuse-insert-guards",
]

# Fusion groups → kernel functions → one scf.forall per kernel, inlined back into the
# entry function (each kernel stays one loop nest). Outline first: upstream passes may
# hoist constants out of a group, whose isolation IRDL cannot declare.
def kernels(exact_tiles: bool = False) -> list[str]:
    """Fusion groups → one scf.forall per kernel; exact_tiles (the GPU) makes every tile
    the same static size."""
    return [
        "mlirfuse-outline-fusion-groups",
        "canonicalize",
        "mlirfuse-tile-kernels" + ("{exact=true}" if exact_tiles else ""),
        "inline",
        "canonicalize",
        "cse",
    ]


KERNELS = kernels()

# Kernels on tensors → buffers, in the runtime's calling convention (CPU and GPU).
BUFFERIZE = [
    # Extern calls (torch's kernel for an op, compiler/extern.py) take and fill buffers.
    "mlirfuse-bridge-extern-calls",
    # Let producers of a result write straight into its destination buffer.
    "eliminate-empty-tensors",
    # Arguments take any strides (transposed, sliced tensors are passed as they are).
    "one-shot-bufferize{allow-unknown-ops bufferize-function-boundaries "
    "function-boundary-type-conversion=fully-dynamic-layout-map}",
    # tm_tensor ops (scan, sort, topk, scatter) bufferize in torch-mlir's own pass.
    "func.func(tm-tensor-bufferize)",
    "refback-mlprogram-bufferize",
    "canonicalize",
    # The entry function returned its destinations; it now returns nothing.
    "mlirfuse-drop-destination-results",
]

CPU_BUFFERIZE = [
    # Row reductions accumulate in 16 lanes (an elementwise loop body, vectorized later).
    "mlirfuse-reduce-in-lanes",
    *BUFFERIZE,
    # Guards become descriptor checks; kernels run on statically shaped, strided views.
    "mlirfuse-lower-guards",
    # Matmuls on those static views: MKL calls (before canonicalize folds the views' casts);
    # an input whose loops do not nest is copied contiguous first (one call, not a loop).
    "mlirfuse-library-gemm{pack=true}",
    "canonicalize",
    # A kernel's tiles run on OpenMP threads (convert-scf-to-openmp, in CPU_LOOPS). Per-tile
    # temporaries stay inside the loop, one per tile (a thread's own), on the heap: never
    # promote inside a loop, allocas there grow the stack per iteration until it overflows.
    "func.func(scf-forall-to-parallel)",
    "buffer-deallocation-pipeline",
]

# Buffers → loops; the kernels' parallel loops → OpenMP (omp.parallel + omp.wsloop).
CPU_LOOPS = [
    # Each distinct kernel becomes one function, called wherever it runs: a model's
    # repeated layers are vectorized, lowered and compiled by LLVM once.
    "mlirfuse-share-kernels",
    # Elementwise ops: vector code (transfers to 1-D, unrolled); the rest: scalar loops.
    "mlirfuse-vectorize-kernels",
    "func.func(convert-vector-to-scf{full-unroll=true})",
    "func.func(tm-tensor-to-loops, refback-munge-memref-copy, convert-linalg-to-loops, lower-affine)",
    "convert-scf-to-openmp",
    # A tile's partial sums and statistics: stack allocations of its loop body's alloca
    # scope, not a malloc and free per row.
    "mlirfuse-stack-temporaries",
]

# Loops → LLVM dialect, ready for the ExecutionEngine.
CPU_LLVM = [
    # bf16 arithmetic runs in f32, and its conversions become integer ops: the JIT has
    # no compiler-rt (__truncsfbf2).
    "func.func(math-extend-to-supported-types{target-type=f32})",
    # f32 exp, log, log1p, tanh as arithmetic: no libm call per element, and vectorizable.
    "mlirfuse-expand-math",
    "func.func(refback-expand-ops-for-llvm, "
    "arith-emulate-unsupported-floats{source-types=bf16 target-type=f32}, "
    "arith-expand{include-bf16=true})",
    "convert-math-to-llvm",
    "convert-math-to-libm",
    "expand-strided-metadata",
    "convert-bufferization-to-memref",
    "convert-vector-to-llvm",
    # Before scf-to-cf: the OpenMP loops' bodies are memref.alloca_scopes, which must
    # hold one block.
    "finalize-memref-to-llvm",
    "convert-scf-to-cf",
    "lower-affine",
    "convert-arith-to-llvm",
    "convert-func-to-llvm",
    "convert-cf-to-llvm",
    "convert-ub-to-llvm",
    "convert-openmp-to-llvm",
    "reconcile-unrealized-casts",
]


# --- The CUDA target (NVIDIA GPUs): the stages after "kernels". ---

# Kernels on tensors → buffers. Unlike the CPU, the kernels' scf.forall loops stay (they
# become launches), and nothing is hoisted, promoted to the stack or freed: temporaries of
# a tile become shared memory, the others one workspace (mlirfuse-workspace).
def gpu_bufferize(alignment: int) -> list[str]:
    """Kernels on tensors → buffers for the GPU; guards also check `alignment` bytes."""
    # A GEMM's temporary result with rows 16 bytes apart (cuBLAS's tensor cores), right
    # before bufferization: a canonicalize would fold its wider buffer away.
    enabled = "true" if align_gemm_rows.ENABLED else "false"
    return [f"mlirfuse-align-gemm-rows{{enabled={enabled}}}"] + BUFFERIZE + [
        # The GPU code generator reads generics only (fills and copies included).
        "func.func(linalg-generalize-named-ops)",
        f"mlirfuse-lower-guards{{alignment={alignment}}}",
        # No canonicalize after the guards: folding would put their casts to static types
        # into the linalg ops, and the code generator needs the static sizes. cse makes a
        # tile's copy of a result onto itself visibly a no-op.
        "cse",
    ]


# Buffers → gpu.launch per kernel (blocks over tiles, threads within) → outlined kernels.
def gpu_kernels(vector_bytes: int) -> list[str]:
    """Buffers → a gpu.launch per kernel (blocks over tiles, threads within) → outlined
    kernels; loads and stores of `vector_bytes` (0: scalar)."""
    return [
        # Matmuls become cuBLAS calls on the host, 2-D convolutions cuDNN calls; the rest,
        # launches.
        "mlirfuse-library-gemm{target=cuda pack=true}",
        "mlirfuse-library-conv",
        f"mlirfuse-map-to-gpu{{vector-bytes={vector_bytes}}}",
        # scan, sort and topk run as loops on one GPU thread (correct, slow).
        "func.func(tm-tensor-to-loops)",
        "mlirfuse-workspace",
        "canonicalize",
        "cse",
        "gpu-launch-sink-index-computations",
        "gpu-kernel-outlining",
        "mlirfuse-workgroup-buffers",
    ]


def gpu_ptx(chip: str) -> list[str]:
    """Kernels → NVVM → PTX (llc, a subprocess) embedded as gpu.binary, for `chip`."""
    return [
        f"nvvm-attach-target{{chip={chip}}}",
        "gpu.module(expand-strided-metadata, lower-affine, convert-scf-to-cf, "
        "convert-vector-to-llvm, "
        # What NVVM's lowering leaves (integer abs...) goes to LLVM intrinsics.
        "convert-gpu-to-nvvm, convert-math-to-llvm, canonicalize, cse, "
        "reconcile-unrealized-casts)",
        f"mlirfuse-serialize-ptx{{chip={chip}}}",
    ]


# Host code → LLVM: launches become calls of the mgpu* runtime ABI (runtime/cuda).
# scf to cf first: gpu-to-llvm lowers a cf.assert (torch-mlir's check of symbolic sizes) to
# branches, which an scf.if around launches (symbolic sizes: no tiles, no launch) cannot hold.
GPU_HOST_LLVM = ["func.func(convert-scf-to-cf)", "gpu-to-llvm"] + CPU_LLVM


def as_text(pipeline: list[str]) -> str:
    """Returns the `--pass-pipeline` text of a pipeline."""
    return "builtin.module(" + ", ".join(pipeline) + ")"


# --- The stages of each target: (stage name, the pipeline producing it from the previous
# stage's IR), in order. compiler/driver.py runs them. ---

CPU_STAGES = [
    ("torch", TORCH),
    ("linalg", LINALG),
    ("fused", FUSED),
    ("guarded", GUARDED),
    ("kernels", KERNELS),
    ("bufferized", CPU_BUFFERIZE),
    ("loops", CPU_LOOPS),
    ("llvm", CPU_LLVM),
]


def cuda_stages(chip: str, vector_bytes: int = 16) -> list[tuple[str, list[str]]]:
    """The CUDA target's stages, for one chip ("sm_90"); vector_bytes=0 when the
    arguments are not 16-byte aligned (no vector loads, no alignment guard)."""
    return [
        ("torch", TORCH),
        ("linalg", LINALG),
        ("fused", fused(concat_as_select=False, conv_as_gemm=False, library_convolutions=True,
                        half_contractions=library_gemm.HALF_INPUTS)),
        ("guarded", GUARDED),
        ("kernels", kernels(exact_tiles=True)),
        ("bufferized", gpu_bufferize(alignment=vector_bytes)),
        ("gpu", gpu_kernels(vector_bytes)),
        ("ptx", gpu_ptx(chip)),
        ("llvm", GPU_HOST_LLVM),
    ]


def of_target(target: str) -> list[tuple[str, list[str]]]:
    """The stages of `cpu`, or `cuda:<chip>` (e.g. cuda:sm_90), `cuda:<chip>:unaligned`."""
    if target.startswith("cuda"):
        parts = target.split(":")
        chip = parts[1] if len(parts) > 1 and parts[1] else "sm_90"
        return cuda_stages(chip, 0 if parts[2:] == ["unaligned"] else 16)
    if target != "cpu":
        raise ValueError(f"unknown target {target!r}: cpu, or cuda:<chip>")
    return CPU_STAGES


def names(target: str = "cpu") -> list[str]:
    """The stage names of `target`, in order."""
    return [name for name, _ in of_target(target)]


def for_target(target: str = "cpu", fuse: bool = True) -> list[tuple[str, list[str]]]:
    """The (stage, pipeline) list of a target; fuse=False keeps one kernel per linalg op."""
    stages = of_target(target)
    if fuse:
        return stages
    return [(name, UNFUSED if name == "fused" else pipe) for name, pipe in stages]
