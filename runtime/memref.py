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

WORD = 8


def descriptor_words(t: torch.Tensor) -> list[int]:
    """Returns the descriptor of `t` as a list of 3 + 2*rank integers."""
    ptr = t.data_ptr()
    return [ptr, ptr, 0, *t.shape, *t.stride()]


class PackedArgs:
    """The argument block of a packed ExecutionEngine call over tensors.

    The packed C interface `_mlir__mlir_ciface_<f>(void **args)` takes one
    pointer per argument, each pointing to a slot that holds the address of a
    memref descriptor. All three live in ctypes arrays owned by this object;
    keep it alive during the call.
    """

    __slots__ = ("_desc", "_slots", "packed")

    def __init__(self, tensors: list[torch.Tensor]):
        words, starts = [], []
        for t in tensors:
            starts.append(len(words))
            words.extend(descriptor_words(t))
        self._desc = (ctypes.c_int64 * max(len(words), 1))(*words)
        base = ctypes.addressof(self._desc)
        self._slots = (ctypes.c_void_p * max(len(tensors), 1))(
            *[base + WORD * s for s in starts])
        sbase = ctypes.addressof(self._slots)
        self.packed = (ctypes.c_void_p * max(len(tensors), 1))(
            *[sbase + WORD * i for i in range(len(tensors))])
