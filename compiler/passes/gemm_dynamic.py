"""mlirfuse-library-gemm's plans for contractions on dynamic sizes (symbolic shapes).

With static sizes the pass plans from the buffers' static strides (library_gemm._plan).
On dynamic sizes most strides are known only per call: here a plan says which loops
nest as one BLAS dimension by the layouts alone (consecutive dimensions of a contiguous
buffer nest), makes host loops of the others, and names sizes and strides by where the
call reads them (the buffers' descriptors).
"""

from __future__ import annotations

from torch_mlir import ir

from . import structured as st


def contiguous(typ: ir.MemRefType) -> bool:
    """Whether a buffer type has the identity layout (row-major, contiguous)."""
    return isinstance(typ.layout, ir.AffineMapAttr) and \
        typ.layout.value == ir.AffineMap.get_identity(len(typ.shape))


def layout(op: ir.Operation):
    """A contraction with sizes or strides known only at run time (dynamic shapes): one
    call when the loops of each role nest as one row-major dimension in every operand
    that has them (consecutive dimensions of a contiguous buffer), the unit strides are
    static and no static stride is 0 (a broadcast). Sizes and the other strides are read
    from the buffers' descriptors per call: in the plan a size is ("size", [(operand,
    dimension)...]) (their product), a stride ("stride", operand, dimension).

    Returns:
      ((batch, m, n, k) sizes, the (batch, row, col) strides of A, B and C, the host loops
      as (extent, strides per operand, whether a k loop)), or None."""
    maps = st.indexing_maps(op)
    dims = [st.dim_positions(m) for m in maps]
    if any(None in d for d in dims):
        return None
    sa, sb, sc = (set(d) for d in dims)
    ks = sorted(st.reduction_loops_of(maps, 1))
    batch = sorted(sa & sb & sc)
    ms, ns = sorted((sa & sc) - sb), sorted((sb & sc) - sa)
    if not ks or not ms or not ns or sc != set(batch + ms + ns) \
            or sa != set(batch + ms + ks) or sb != set(batch + ns + ks):
        return None
    types = [ir.MemRefType(v.type) for v in op.operands]
    dynamic = ir.ShapedType.get_dynamic_stride_or_offset()
    statics = [t.get_strides_and_offset()[0] for t in types]
    if any(x == 0 for table in statics for x in table):
        return None
    dense = [contiguous(t) for t in types]

    def nested(j: int, p: int) -> bool:
        """Whether dimension p of operand j nests around p + 1 like one row-major
        dimension: the buffer is contiguous, or the static strides show it (attention's
        heads, a view [s, b, h, d] of strides [?, h * d, d, 1]: b and h nest, s is the
        symbolic one; packing them was 4 copies a transformer layer)."""
        if dense[j]:
            return True
        outer, inner = statics[j][p], statics[j][p + 1]
        size = types[j].shape[p + 1]
        return dynamic not in (outer, inner) and size != ir.ShapedType.get_dynamic_size() \
            and outer == inner * size

    def nests(loops) -> bool:
        """Whether `loops` are consecutive dimensions, in this order, of every operand
        that has them, nested as one row-major dimension (a single loop always nests)."""
        for j in range(3):
            if not set(loops) <= set(dims[j]):
                continue
            positions = [dims[j].index(d) for d in loops]
            if positions != list(range(positions[0], positions[0] + len(loops))):
                return False
            if not all(nested(j, p) for p in positions[:-1]):
                return False
        return True

    def group(loops, reference):
        """The loops as one dimension, the innermost that nest (in `reference`'s order),
        and host loops for the others: (size, innermost loop, host loops)."""
        if not loops:
            return ("size", []), None, []
        order = sorted(loops, key=lambda d: dims[reference].index(d))
        first = len(order) - 1
        while first > 0 and nests(order[first - 1:]):
            first -= 1
        merged = order[first:]
        j = next(j for j in range(3) if set(merged) <= set(dims[j]))
        return ("size", [(j, dims[j].index(d)) for d in merged]), merged[-1], order[:first]

    (bsz, lb, hb), (msz, m, hm), (nsz, n, hn), (ksz, k, hk) = \
        group(batch, 2), group(ms, 2), group(ns, 2), group(ks, 0)

    def size_of(loop):
        j = next(j for j in range(3) if loop in dims[j])
        return ("size", [(j, dims[j].index(loop))])

    def stride(j, loop):
        if loop is None:
            return 0
        d = dims[j].index(loop)
        return statics[j][d] if statics[j][d] != dynamic else ("stride", j, d)

    plan_a = (stride(0, lb), stride(0, m), stride(0, k))
    plan_b = (stride(1, lb), stride(1, k), stride(1, n))
    plan_c = (stride(2, lb), stride(2, m), stride(2, n))
    if plan_c[2] != 1 or not (plan_a[2] == 1 or plan_a[1] == 1) \
            or not (plan_b[2] == 1 or plan_b[1] == 1):
        return None
    # Host loops around the call: extent and each operand's stride (0 where it has none).
    loops = [(size_of(d), [stride(j, d) if d in dims[j] else 0 for j in range(3)], d in ks)
             for d in hb + hm + hn + hk]
    return (bsz, msz, nsz, ksz), [plan_a, plan_b, plan_c], loops


def packed_order(op: ir.Operation, index: int) -> list[int]:
    """library_gemm._packed_order for buffers of dynamic sizes: batch, m and n in C's order of
    dimensions, k in B's (C and B contiguous: their order is their strides')."""
    maps = st.indexing_maps(op)
    dims = [st.dim_positions(m) for m in maps]
    sa, sb, sc = (set(d) for d in dims)
    ks = st.reduction_loops_of(maps, 1)
    batch, ms, ns = sa & sb & sc, (sa & sc) - sb, (sb & sc) - sa

    def by(loops, j):
        return sorted(loops, key=lambda d: dims[j].index(d))
    if index == 0:
        return by(batch, 2) + by(ms, 2) + by(ks, 1)
    return by(batch, 2) + by(ks, 1) + by(ns, 2)
