"""Decompositions of distances, norms and determinants that torch-mlir cannot lower
(decompositions.table merges table() after torch-mlir's and torch's own). Each returns
NotImplemented where it does not apply (the op then runs eager).

aten._cdist_forward (torch.cdist; no lowering): the p-norms of the differences of every
    pair of rows, as eager's CPU kernel sums them (p=0: the count of differing elements,
    p=inf: the largest difference); for p=2 where eager multiplies matrices (compute
    mode 1, or more than 25 rows in the default mode) eager's matrix form
    (|a|^2 - 2 a.b + |b|^2, clamped at 0, square root), whose rounding differs from the
    difference form's by up to sqrt(eps) * |a|.
aten._pdist_forward (F.pdist; no lowering): the same norms of the pairs i < j of rows,
    taken with two index_selects of constant row numbers.
aten.linalg_norm (no lowering; its dtype and ord arguments failed to legalize): the
    vector norm (linalg_vector_norm) or the matrix norms that need no SVD: 'fro', and
    ord=1/-1/inf/-inf, the largest/smallest column or row sum of absolute values.
    'nuc' and ord=2/-2 need singular values: NotImplemented.
aten._linalg_det, aten.linalg_slogdet (torch.logdet): Gaussian elimination with
    partial pivoting, as eager's LAPACK getrf (of the transpose, as eager factors a
    contiguous matrix), unrolled for n <= 16 (larger ones run eager: hazards.py).
    torch-mlir's lowering failed on matrices with no elements ("offset 1 is
    out-of-bounds"; here det 1, sign 1, log|det| 0 for 0x0) and, eliminating without
    pivoting, aborted the process on a zero pivot ("unimplemented: determinants
    requiring permutations and singular matrices"). _linalg_det's LU factors and
    pivots are LAPACK's (an elimination of their own, dropped when unused).
Accuracy against eager (max relative error where |eager| >= 1% of the largest):
cdist/pdist 3e-7 (f32) / 1e-15 (f64), linalg.norm 0, det 3e-6 (f32, 12x12) / 2e-14 (f64).
"""

from __future__ import annotations

import math

import torch

from .decompositions_nn import real_float

aten = torch.ops.aten


def _pnorm_of_differences(diff, p: float, dim: int = -1):
    """The p-norm over `dim` of the differences `diff`, as eager's distance kernels
    compute it (p=0: the number of nonzero differences; p=inf: the largest)."""
    if p == 0:
        return (diff != 0).to(diff.dtype).sum(dim)
    if p == 1:
        return diff.abs().sum(dim)
    if p == 2:
        return torch.sqrt((diff * diff).sum(dim))
    if math.isinf(p):
        return diff.abs().amax(dim)
    return torch.pow(torch.pow(diff.abs(), p).sum(dim), 1.0 / p)


def _euclidean_by_matmul(x1, x2):
    """eager's _euclidean_dist: distances from |a|^2 - 2 a.b + |b|^2, by one matmul."""
    n1 = (x1 * x1).sum(-1, keepdim=True)
    n2 = (x2 * x2).sum(-1, keepdim=True)
    a = torch.cat([x1 * -2.0, n1, torch.ones_like(n1)], -1)
    b = torch.cat([x2, torch.ones_like(n2), n2], -1)
    return torch.sqrt(torch.clamp_min(torch.matmul(a, b.transpose(-2, -1)), 0.0))


# The difference form holds every difference ([..., P, R, M]) where eager's kernel loops:
# past this many elements cdist stays eager.
_MAX_DIFFERENCES = 1 << 27


def cdist_forward(x1, x2, p, compute_mode=None):
    """aten._cdist_forward: [..., P, M] and [..., R, M] -> [..., P, R] p-norms."""
    if not real_float(x1, x2) or x1.dtype != x2.dtype or p < 0:
        return NotImplemented
    batch = list(torch.broadcast_shapes(x1.shape[:-2], x2.shape[:-2]))
    r1, r2, m = x1.shape[-2], x2.shape[-2], x1.shape[-1]
    x1 = x1.expand(batch + [r1, m])
    x2 = x2.expand(batch + [r2, m])
    if r1 == 0 or r2 == 0 or math.prod(batch) == 0:
        return torch.empty(batch + [r1, r2], dtype=x1.dtype, device=x1.device)
    if m == 0:
        return torch.zeros(batch + [r1, r2], dtype=x1.dtype, device=x1.device)
    mode = 0 if compute_mode is None else compute_mode
    if p == 2 and (mode == 1 or (mode == 0 and (r1 > 25 or r2 > 25))):
        return _euclidean_by_matmul(x1, x2)
    if math.prod(batch) * r1 * r2 * m > _MAX_DIFFERENCES:
        return NotImplemented
    return _pnorm_of_differences(x1.unsqueeze(-2) - x2.unsqueeze(-3), p)


def pdist_forward(x, p=2.0):
    """aten._pdist_forward: the p-norms of rows i < j of an [N, M] tensor, row-major."""
    if not real_float(x) or x.dim() != 2 or p < 0:
        return NotImplemented
    n, m = x.shape
    pairs = n * (n - 1) // 2
    if pairs == 0:
        return torch.empty([0], dtype=x.dtype, device=x.device)
    if m == 0:
        return torch.zeros([pairs], dtype=x.dtype, device=x.device)
    rows, cols = torch.triu_indices(n, n, 1, device=x.device)
    diff = x.index_select(0, rows) - x.index_select(0, cols)
    return _pnorm_of_differences(diff, p)


_MATRIX_ORDS = {1: ("sum_rows_first", False), -1: ("sum_rows_first", True),
                math.inf: ("sum_cols_first", False), -math.inf: ("sum_cols_first", True)}


def _matrix_norm(x, ord, dims, keepdim):
    """The matrix norms that need no SVD over `dims`: 'fro', and ord 1/-1 (column sums
    of absolute values: largest/smallest), inf/-inf (row sums)."""
    d0, d1 = (d % x.dim() for d in dims)
    if ord == "fro":
        return aten.linalg_vector_norm.default(x, 2, [d0, d1], keepdim)
    if ord not in _MATRIX_ORDS:
        return NotImplemented  # 'nuc', 2, -2: singular values
    order, smallest = _MATRIX_ORDS[ord]
    summed, reduced = (d0, d1) if order == "sum_rows_first" else (d1, d0)
    sums = x.abs().sum(summed, keepdim=True)
    out = sums.amin(reduced, keepdim=True) if smallest else sums.amax(reduced, keepdim=True)
    return out if keepdim else out.squeeze([d0, d1])


def linalg_norm(x, ord=None, dim=None, keepdim=False, *, dtype=None):
    """aten.linalg_norm (and .ord_str): a vector norm, or a matrix norm over two dims."""
    if x.is_complex() or (dtype is not None and not dtype.is_floating_point):
        return NotImplemented
    if not x.dtype.is_floating_point:
        return NotImplemented  # eager raises on integer tensors
    if dtype is not None:
        x = x.to(dtype)
    if dim is not None:
        dim = [dim] if isinstance(dim, int) else list(dim)
    if ord is None:
        return aten.linalg_vector_norm.default(x, 2, dim, keepdim)
    if dim is None:
        if x.dim() == 1:
            dim = [0]
        elif x.dim() == 2:
            dim = [0, 1]
        else:
            return NotImplemented  # eager raises
    if len(dim) == 1:
        if isinstance(ord, str):
            return NotImplemented
        return aten.linalg_vector_norm.default(x, ord, dim, keepdim)
    if len(dim) != 2:
        return NotImplemented
    if x.numel() == 0 and ord in (1, 2, math.inf, "nuc"):
        return _empty_matrix_norm(x, dim, keepdim)
    return _matrix_norm(x, ord, dim, keepdim)


def _empty_matrix_norm(x, dims, keepdim):
    """The norms of matrices with no elements, 0 as eager's (whose amax of an empty
    sum would not trace)."""
    reduced = {d % x.dim() for d in dims}
    shape = [1 if i in reduced else n for i, n in enumerate(x.shape)
             if keepdim or i not in reduced]
    return torch.zeros(shape, dtype=x.dtype, device=x.device)


_LU_MAX_SIZE = 16  # unrolled: 16 steps compile in ~10 s; larger keep torch-mlir's lowering


def _lu_partial_pivoting(a):
    """LU factorization with partial pivoting, as LAPACK's getrf: step k takes the
    row of the largest |a[i, k]| among the rows not yet taken (the first of equals)
    and eliminates column k from the others. Rows are not moved (the same shapes every
    step), they are marked taken. Returns (the pivot rows' order: [batch, n] row
    indices, the matrix with the multipliers where the eliminations left zeros). A
    zero pivot (a zero column) is passed over, as LAPACK does: its multipliers are 0."""
    n = a.shape[-1]
    rows = torch.arange(n, device=a.device)
    free = torch.ones_like(a[..., 0], dtype=torch.bool)  # [batch, n]: not taken yet
    order = []
    for k in range(n):
        column = a[..., k]
        p = torch.argmax(torch.where(free, column.abs(), -1.0), -1, keepdim=True)
        order.append(p)
        free = free & (rows != p)
        pivot_row = a.gather(-2, p.unsqueeze(-1).expand(a.shape[:-2] + (1, n)))
        pivot = column.gather(-1, p)
        pivot = torch.where(pivot == 0, torch.ones_like(pivot), pivot)
        mult = torch.where(free, column / pivot, torch.zeros_like(column))
        a = a - mult.unsqueeze(-1) * torch.where(rows > k, pivot_row, 0.0)
        a = torch.where(rows == k, torch.where(free, mult, column).unsqueeze(-1), a)
    return torch.cat(order, -1), a


def _permutation_sign(order, dtype):
    """The sign of the permutation `order` ([batch, n]): -1 to the number of
    inversions."""
    n = order.shape[-1]
    i = torch.arange(n, device=order.device)
    later = i.unsqueeze(1) < i.unsqueeze(0)  # [n, n]: i before j
    inversions = ((order.unsqueeze(-1) > order.unsqueeze(-2)) & later).sum((-2, -1))
    return 1.0 - 2.0 * torch.remainder(inversions, 2).to(dtype)


def _lapack_pivots(order):
    """LAPACK's pivots (1-based; row k was swapped with row pivots[k] - 1 at step k)
    of the row order `order`: the swaps replayed on the arrangement of rows."""
    n = order.shape[-1]
    positions = torch.arange(n, device=order.device)
    current = positions.expand(order.shape)  # the original row at each position
    pivots = []
    for k in range(n):
        row = order[..., k:k + 1]
        j = torch.argmax((current == row).to(torch.int32), -1, keepdim=True)
        pivots.append(j)
        at_k = current[..., k:k + 1]
        current = torch.where(positions == j, at_k, torch.where(positions == k, row, current))
    return torch.cat(pivots, -1).to(torch.int32) + 1


def _pivots_of_elimination(a):
    """The pivots of Gaussian elimination with partial pivoting (U's diagonal, [batch,
    n]) and the rows' order, with the fewest ops: rows stay in place, and subtracting
    the pivot row from itself (its multiplier is x/x = 1) zeroes it, so a taken row
    never wins the next argmax of |column| (unless the column is all zeros: then the
    pivot is 0 and so is the determinant, whatever the order)."""
    n = a.shape[-1]
    pivots, order = [], []
    for k in range(n):
        column = a[..., k]
        p = torch.argmax(column.abs(), -1, keepdim=True)
        pivot_row = a.gather(-2, p.unsqueeze(-1).expand(a.shape[:-2] + (1, n)))
        pivot = pivot_row[..., k]
        pivots.append(pivot)
        order.append(p)
        if k < n - 1:
            safe = torch.where(pivot == 0, torch.ones_like(pivot), pivot)
            a = a - (column / safe).unsqueeze(-1) * pivot_row
    return torch.cat(pivots, -1), torch.cat(order, -1)


def _det_factors(a):
    """(U's diagonal, the permutation's sign) of `a` as eager factors it: a contiguous
    matrix's transpose (LAPACK's column-major layout; det(A^T) = det(A))."""
    diagonal, order = _pivots_of_elimination(a.mT if a.is_contiguous() else a)
    return diagonal, _permutation_sign(order, a.dtype)


def _lu_factors(a):
    """(LU packed as LAPACK's, its pivots) of `a`, factored as eager factors it."""
    order, eliminated = _lu_partial_pivoting(a.mT if a.is_contiguous() else a)
    lu = eliminated.gather(-2, order.unsqueeze(-1).expand(eliminated.shape))
    return lu, _lapack_pivots(order)


def _factorable(a) -> bool:
    return (a.dtype in (torch.float32, torch.float64) and a.dim() >= 2
            and 0 < a.shape[-1] <= _LU_MAX_SIZE and a.numel() > 0)


def linalg_det(a):
    """aten._linalg_det: the product of U's diagonal times the permutation's sign,
    with the LU factors and pivots, as eager (LAPACK's getrf). torch-mlir's lowering
    eliminates without pivoting: it aborts the process on a zero pivot (a permutation
    matrix) and loses accuracy on small ones. Matrices with no elements: det 1 (0x0),
    empty factors."""
    if not real_float(a):
        return NotImplemented
    batch, n = list(a.shape[:-2]), a.shape[-1]
    if a.numel() == 0:
        det = torch.ones(batch, dtype=a.dtype, device=a.device)
        lu = torch.empty(batch + [n, n], dtype=a.dtype, device=a.device)
        return det, lu, torch.empty(batch + [n], dtype=torch.int32, device=a.device)
    if not _factorable(a):
        return NotImplemented
    diagonal, sign = _det_factors(a)
    # The factors themselves (their own elimination: unused, as they mostly are, export
    # drops it).
    lu, pivots = _lu_factors(a)
    return diagonal.prod(-1) * sign, lu, pivots


def linalg_slogdet(a):
    """aten.linalg_slogdet (torch.logdet too): from the same LU, the sign (0 if
    singular) and the sum of log|U's diagonal| (-inf if singular). No elements: sign 1,
    log|det| 0 (0x0)."""
    if not real_float(a):
        return NotImplemented
    batch = list(a.shape[:-2])
    if a.numel() == 0:
        sign = torch.ones(batch, dtype=a.dtype, device=a.device)
        return sign, torch.zeros(batch, dtype=a.dtype, device=a.device)
    if not _factorable(a):
        return NotImplemented
    diagonal, sign = _det_factors(a)
    return sign * torch.sgn(diagonal).prod(-1), diagonal.abs().log().sum(-1)


def table() -> dict:
    """op overload -> decomposition (returns NotImplemented where it does not apply)."""
    return {
        aten._cdist_forward.default: cdist_forward,
        aten._pdist_forward.default: pdist_forward,
        aten.linalg_norm.default: linalg_norm,
        aten.linalg_norm.ord_str: linalg_norm,
        aten._linalg_det.default: linalg_det,
        aten.linalg_slogdet.default: linalg_slogdet,
    }
