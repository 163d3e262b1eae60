"""Torch tensors as MLIR memref descriptors, without copies.

A ranked memref descriptor is {allocated ptr, aligned ptr, offset, sizes[r],
strides[r]} (i64 words on x86_64). A tensor's `data_ptr()` already includes
its storage offset, so allocated = aligned = data_ptr and offset = 0; sizes
and strides are the tensor's own, in elements, so transposed and sliced
tensors are described as they are.
"""

from __future__ import annotations

import ctypes

import torch

from . import native_pack

WORD = 8


# The packed form of a compiled entry function: void (void **args) (ArgumentLayout).
PACKED = ctypes.CFUNCTYPE(None, ctypes.c_void_p)
_COUNTER = ctypes.CFUNCTYPE(ctypes.c_int64)

class ArgumentLayout:
    """The argument block of packed ExecutionEngine calls for arguments of fixed ranks.

    The packed C interface `_mlir__mlir_ciface_<f>(void **args)` takes one
    pointer per argument, each pointing to a slot that holds the address of a
    memref descriptor, then one pointer to where the i32 result goes. One
    int64 array holds it all: [packed pointers (n + 1) | result | slots (n) |
    descriptors]. Only its base address changes between calls, so the offsets
    are computed once.
    """

    def __init__(self, ranks: list[int]):
        n = len(ranks)
        self.count = n
        self.result = n + 1  # word index of the result
        starts, total = [], 2 * n + 2
        for r in ranks:
            starts.append(total)
            total += 3 + 2 * r
        self.size = total
        self._packed_offsets = [WORD * (n + 2 + i) for i in range(n)] + [WORD * self.result]
        self._slot_offsets = [WORD * s for s in starts]
        self._array = ctypes.c_int64 * self.size
        self._ranks = list(ranks)
        self._rank_words = (ctypes.c_int64 * max(n, 1))(*ranks)
        self._bound = (None, None, None)  # (address, errors), their ctypes functions

    def call(self, address: int, tensors: list[torch.Tensor], errors: int = 0) -> int:
        """Runs the packed entry function at `address` on `tensors` (a list: inputs, then
        outputs); packed in C (runtime/native_pack.py) where it is built, else in Python.

        Args:
          errors: the address of a function `int64 errors(void)` counting this thread's
            extern-call errors (runtime/extern.py), 0 when the code makes no extern calls.
        Returns:
          The entry's i32 result (its guard status), 1 + i when tensor i has another rank
          than the code takes (nothing ran), native_pack.EXTERN_FAILED when an extern call
          raised during the call.
        """
        native = native_pack.caller()
        if native is not None:
            status = native(address, tensors, ctypes.addressof(self._rank_words), self.count,
                            errors or None)
            if status != native_pack.FALLBACK:
                return status
        for i, (t, rank) in enumerate(zip(tensors, self._ranks)):
            if t.dim() != rank:  # its descriptor would shift every word after it
                return 1 + i
        if self._bound[0] != (address, errors):  # (the same for every call of one code)
            self._bound = ((address, errors), PACKED(address),
                           _COUNTER(errors) if errors else None)
        _, fn, count = self._bound
        block = self.pack(tensors)
        before = count() if count else 0
        fn(ctypes.addressof(block))
        if count and count() != before:
            return native_pack.EXTERN_FAILED
        return block[self.result] & 0xFFFFFFFF

    def pack(self, tensors: list[torch.Tensor]):
        """Returns the ctypes array to pass (keep it alive during the call)."""
        block = self._array()
        base = ctypes.addressof(block)
        words = [base + o for o in self._packed_offsets]
        words.append(0)
        words += [base + o for o in self._slot_offsets]
        for t in tensors:
            ptr = t.data_ptr()
            words += (ptr, ptr, 0, *t.shape, *t.stride())
        block[:len(words)] = words
        return block
