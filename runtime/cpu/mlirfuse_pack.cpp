/* A compiled call's argument block, packed in C (runtime/native_pack.py).
 *
 * Compiled entry functions take one argument, void **args: args[i] points to a slot that
 * holds the address of tensor i's memref descriptor {allocated, aligned, offset, sizes[r],
 * strides[r]}, args[n] to where the i32 result goes (runtime/memref.py, ArgumentLayout,
 * lays the block out the same way in Python). Packing it in Python read each tensor's
 * data_ptr(), shape and stride() through the interpreter, 1-1.5 us a tensor: a small
 * ResNet's 100 arguments took 90-140 us of a 1.2-2 ms call (bench/RESULTS.md, session 36).
 * Here the tensors are read through torch's own C++ objects, the block lives on the stack,
 * and the compiled code runs with the GIL released, as ctypes ran it.
 *
 * mlirfuse_pack_call returns the code's i32 result (a guard status: 0 ran), or
 *   1 + i      tensor i has another rank than the code's (nothing ran: a broken guard),
 *   -2         the extern calls' error counter moved during the call (runtime/extern.py
 *              takes the message),
 *   -3         a tensor this code does not read (a subclass of torch.Tensor other than
 *              nn.Parameter, no storage, symbolic sizes): nothing ran, pack in Python.
 * A list of another length raises ValueError (the function is called with the GIL held).
 */
#include <Python.h>
#include <torch/csrc/autograd/python_variable.h>

#include <cstdint>
#include <vector>

namespace {
constexpr int64_t kExternFailed = -2;
constexpr int64_t kFallback = -3;
constexpr int64_t kStackWords = 2048;
}  // namespace

extern "C" int64_t mlirfuse_pack_call(void (*fn)(void **), PyObject *tensors,
                                      const int64_t *ranks, int64_t n,
                                      int64_t (*errors)(void)) {
  if (!PyList_Check(tensors) || PyList_GET_SIZE(tensors) != n) {
    PyErr_Format(PyExc_ValueError, "mlirfuse: a call of code taking %lld tensors got %lld",
                 (long long)n, (long long)(PyList_Check(tensors) ? PyList_GET_SIZE(tensors) : -1));
    return 0;
  }
  int64_t size = 2 * n + 2;
  for (int64_t i = 0; i < n; ++i)
    size += 3 + 2 * ranks[i];
  int64_t stack[kStackWords];
  std::vector<int64_t> heap;
  int64_t *block = stack;
  if (size > kStackWords) {
    heap.resize(size);
    block = heap.data();
  }
  int64_t *slots = block + n + 2;
  int64_t *descriptor = block + 2 * n + 2;
  auto *plain = reinterpret_cast<PyTypeObject *>(THPVariableClass);
  auto *parameter = reinterpret_cast<PyTypeObject *>(ParameterClass);
  try {
    for (int64_t i = 0; i < n; ++i) {
      PyObject *object = PyList_GET_ITEM(tensors, i);
      PyTypeObject *type = Py_TYPE(object);
      // Another subclass may answer data_ptr() or its sizes otherwise in Python.
      if (type != plain && type != parameter)
        return kFallback;
      const at::Tensor &t = THPVariable_Unpack(object);
      if (!t.defined() || !t.has_storage() || t.is_sparse())
        return kFallback;
      int64_t rank = t.dim();
      if (rank != ranks[i])
        return 1 + i;
      auto address = reinterpret_cast<int64_t>(t.data_ptr());  // its offset included
      descriptor[0] = descriptor[1] = address;
      descriptor[2] = 0;
      auto sizes = t.sizes();
      auto strides = t.strides();
      for (int64_t d = 0; d < rank; ++d) {
        descriptor[3 + d] = sizes[d];
        descriptor[3 + rank + d] = strides[d];
      }
      block[i] = reinterpret_cast<int64_t>(&slots[i]);
      slots[i] = reinterpret_cast<int64_t>(descriptor);
      descriptor += 3 + 2 * rank;
    }
  } catch (...) {  // symbolic sizes, a tensor without data: what Python makes of it
    return kFallback;
  }
  block[n] = reinterpret_cast<int64_t>(&block[n + 1]);
  block[n + 1] = 0;
  int64_t before = errors ? errors() : 0;
  Py_BEGIN_ALLOW_THREADS
  fn(reinterpret_cast<void **>(block));
  Py_END_ALLOW_THREADS
  if (errors && errors() != before)
    return kExternFailed;
  return static_cast<uint32_t>(block[n + 1]);
}
