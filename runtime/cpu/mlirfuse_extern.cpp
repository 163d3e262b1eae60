/* Extern calls: compiled code calling torch's own kernel for one op (an aten op torch-mlir
 * cannot lower: LAPACK's factorizations, FFTs, sorts, the random ops), in the middle of a
 * compiled graph, as inductor calls its "extern kernels". The compiled code passes its
 * buffers as they are; they become tensors without copies (at::from_blob), the op runs
 * through torch's dispatcher (boxed: one entry point for every op), and its results are
 * copied into the buffers the compiled code allocated for them.
 *
 * Built at first use against the torch of the process (runtime/extern.py), so the
 * dispatcher, the kernels and the random generator are torch's own: a random op draws
 * from torch's default generator, in the program's order, as eager does.
 *
 * The call (mlirfuse-bridge-extern-calls emits it) takes one memref<?xindex>, lowered to
 * its five descriptor fields; its words are
 *   [spec address, spec length, then per tensor (inputs, then outputs):
 *    data address, offset, sizes[rank], strides[rank]]
 * and the spec (compiler/extern.py writes it) is text, one item per line:
 *   op <name>           aten::linalg_qr
 *   overload <name>     (empty for the default overload)
 *   device <device>     cpu, cuda:0
 *   in <dtype> <rank>   one per input tensor, in the order of the words
 *   out <dtype> <rank>  one per result tensor
 *   arg <kind> <value>  one per argument of the op's schema, in order: T <input index>,
 *                       N (None), I <int>, F <float>, B <0|1>, S <text>, V <device>,
 *                       LI/LF/LB <comma-separated>, LT/LO <input indices; -1 is None>
 *   host <input index>  that input is in host memory (a constant of the compiled code, a
 *                       global of its host module) whatever the device: on a GPU, the op
 *                       gets a copy of it on the device
 *   channels_last <input index>
 *                       the op gets that 4-D input as a channels-last copy (oneDNN's
 *                       depthwise convolutions run 1.2-2x faster so, copies included)
 *   nhwc <input index>  that 4-D input's buffer holds it channels-last ([N, H, W, C] in
 *                       the words): the op gets the NCHW view of it (a permutation, no
 *                       copy), which oneDNN takes as channels-last
 *   nhwc_out <result index>
 *                       that 4-D result's buffer is [N, H, W, C]: the result is copied
 *                       into the NCHW view of it (mlirfuse-channels-last-convs)
 * dtype is c10::ScalarType's number. Parsed specs are kept by their text (not by address:
 * a freed module's address can be reused by the next one).
 *
 * Errors (the op's own: a matrix that is not positive-definite) cannot unwind through
 * compiled code: they are kept per thread, the results are zeroed (indices stay in
 * bounds for what reads them next), and runtime/engine.py raises them after the call.
 */
#include <ATen/core/Tensor.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/ops/empty_strided.h>
#include <ATen/ops/from_blob.h>
#include <c10/util/accumulate.h>
#include <c10/core/ScalarType.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

struct TensorSlot {
  c10::ScalarType dtype;
  int64_t rank;
  bool host = false;  // in host memory whatever the device (a `host` line)
  bool channels_last = false;  // handed to the op channels-last (a `channels_last` line)
  bool nhwc = false;  // the buffer is [N, H, W, C]: seen through its NCHW view (`nhwc`)
};

enum class Kind { Tensor, TensorList, OptionalTensorList, Constant };

struct Argument {
  Kind kind;
  std::vector<int64_t> indices;  // input tensors (-1: None)
  c10::IValue constant;
};

struct Spec {
  c10::OperatorHandle op;
  c10::Device device{c10::kCPU};
  std::vector<TensorSlot> ins, outs;
  std::vector<Argument> args;
  explicit Spec(c10::OperatorHandle handle) : op(std::move(handle)) {}
};

std::vector<std::string> split(const std::string &text, char sep) {
  std::vector<std::string> out;
  if (text.empty()) return out;
  std::stringstream stream(text);
  std::string item;
  while (std::getline(stream, item, sep)) out.push_back(item);
  return out;
}

Argument parse_argument(const std::string &kind, const std::string &value) {
  Argument a{Kind::Constant, {}, c10::IValue()};
  if (kind == "T") {
    a.kind = Kind::Tensor;
    a.indices.push_back(std::stoll(value));
  } else if (kind == "LT" || kind == "LO") {
    a.kind = kind == "LT" ? Kind::TensorList : Kind::OptionalTensorList;
    for (auto &item : split(value, ',')) a.indices.push_back(std::stoll(item));
  } else if (kind == "N") {
  } else if (kind == "I") {
    a.constant = c10::IValue(static_cast<int64_t>(std::stoll(value)));
  } else if (kind == "F") {
    a.constant = c10::IValue(std::strtod(value.c_str(), nullptr));
  } else if (kind == "B") {
    a.constant = c10::IValue(value == "1");
  } else if (kind == "S") {
    a.constant = c10::IValue(value);
  } else if (kind == "V") {
    a.constant = c10::IValue(c10::Device(value));
  } else if (kind == "LI") {
    std::vector<int64_t> items;
    for (auto &item : split(value, ',')) items.push_back(std::stoll(item));
    a.constant = c10::IValue(items);
  } else if (kind == "LF") {
    std::vector<double> items;
    for (auto &item : split(value, ',')) items.push_back(std::strtod(item.c_str(), nullptr));
    a.constant = c10::IValue(items);
  } else if (kind == "LB") {
    c10::List<bool> items;
    for (auto &item : split(value, ',')) items.push_back(item == "1");
    a.constant = c10::IValue(items);
  } else {
    throw std::runtime_error("mlirfuse extern call: unknown argument kind '" + kind + "'");
  }
  return a;
}

std::unique_ptr<Spec> parse(const std::string &text) {
  std::string name, overload, device = "cpu";
  std::vector<TensorSlot> ins, outs;
  std::vector<Argument> args;
  std::vector<int64_t> host, channels_last, nhwc, nhwc_out;
  for (auto &line : split(text, '\n')) {
    auto space = line.find(' ');
    std::string key = line.substr(0, space);
    std::string rest = space == std::string::npos ? "" : line.substr(space + 1);
    if (key == "op") {
      name = rest;
    } else if (key == "overload") {
      overload = rest;
    } else if (key == "device") {
      device = rest;
    } else if (key == "in" || key == "out") {
      auto fields = split(rest, ' ');
      TensorSlot slot{static_cast<c10::ScalarType>(std::stoi(fields.at(0))),
                      std::stoll(fields.at(1)), false};
      (key == "in" ? ins : outs).push_back(slot);
    } else if (key == "host") {
      host.push_back(std::stoll(rest));
    } else if (key == "channels_last") {
      channels_last.push_back(std::stoll(rest));
    } else if (key == "nhwc") {
      nhwc.push_back(std::stoll(rest));
    } else if (key == "nhwc_out") {
      nhwc_out.push_back(std::stoll(rest));
    } else if (key == "arg") {
      auto kind_end = rest.find(' ');
      std::string kind = rest.substr(0, kind_end);
      std::string value = kind_end == std::string::npos ? "" : rest.substr(kind_end + 1);
      args.push_back(parse_argument(kind, value));
    } else if (key != "size" && !key.empty()) {  // (size lines are the compiler's)
      // A line of a newer compiler: ignoring it could read a buffer the wrong way.
      throw std::runtime_error("mlirfuse extern call: unknown spec line '" + line + "'");
    }
  }
  auto spec = std::make_unique<Spec>(
      c10::Dispatcher::singleton().findSchemaOrThrow(name.c_str(), overload.c_str()));
  spec->device = c10::Device(device);
  for (auto i : host) ins.at(i).host = true;
  for (auto i : channels_last) ins.at(i).channels_last = ins.at(i).rank == 4;
  for (auto i : nhwc) ins.at(i).nhwc = ins.at(i).rank == 4;
  for (auto i : nhwc_out) outs.at(i).nhwc = outs.at(i).rank == 4;
  spec->ins = std::move(ins);
  spec->outs = std::move(outs);
  spec->args = std::move(args);
  return spec;
}

std::mutex specs_lock;
std::unordered_map<std::string, std::unique_ptr<Spec>> specs;

const Spec &lookup(const std::string &text) {
  std::lock_guard<std::mutex> hold(specs_lock);
  auto found = specs.find(text);
  if (found != specs.end()) return *found->second;
  auto spec = parse(text);
  const Spec &ref = *spec;
  specs.emplace(text, std::move(spec));
  return ref;
}

thread_local int64_t error_count = 0;
thread_local std::string last_error;

/* torch's message without its C++ backtrace. */
std::string message(const std::exception &e) {
  if (auto *error = dynamic_cast<const c10::Error *>(&e)) return error->what_without_backtrace();
  return e.what();
}

/* MLIRFUSE_EXTERN_TRACE=1 (a diagnostic switch): each call's buffers and steps on stderr. */
bool tracing() {
  static const bool on = std::getenv("MLIRFUSE_EXTERN_TRACE") != nullptr;
  return on;
}

/* "[2, 3]". Not through std::ostream: on the H200 machine (torch 2.11, the system's g++)
   an integer written to a stream in this library segfaulted (std::ostream::_M_insert<long>,
   instantiated here), so nothing here formats numbers with streams. */
std::string sizes_text(c10::IntArrayRef sizes) {
  std::string text = "[";
  for (size_t i = 0; i < sizes.size(); ++i)
    text += (i ? ", " : "") + std::to_string(sizes[i]);
  return text + "]";
}

/* The tensors over the words of `slots`, starting at `*word` (`what`: "input", "result"). */
std::vector<at::Tensor> views(const Spec &spec, const std::vector<TensorSlot> &slots,
                              const int64_t *words, size_t *word, const char *what) {
  std::vector<at::Tensor> out;
  for (const auto &slot : slots) {
    auto base = reinterpret_cast<char *>(words[(*word)++]);
    int64_t offset = words[(*word)++];
    std::vector<int64_t> sizes(words + *word, words + *word + slot.rank);
    std::vector<int64_t> strides(words + *word + slot.rank, words + *word + 2 * slot.rank);
    *word += 2 * slot.rank;
    void *data = base + offset * static_cast<int64_t>(c10::elementSize(slot.dtype));
    if (tracing())
      std::fprintf(stderr, "mlirfuse extern %s: %s %zu at %p offset %lld sizes %s\n",
                   spec.op.schema().name().c_str(), what, out.size(), (void *)base,
                   (long long)offset, sizes_text(sizes).c_str());
    auto options = at::TensorOptions().dtype(slot.dtype).device(spec.device);
    if (c10::multiply_integers(sizes) == 0) {  // no elements: no data (its address may be
      out.push_back(at::empty_strided(sizes, strides, options));  // null, which a CUDA
      if (slot.nhwc) out.back() = out.back().permute({0, 3, 1, 2});  // from_blob rejects)
      continue;
    }
    try {
      if (slot.host && !spec.device.is_cpu()) {  // a constant of the host code: a copy
        out.push_back(at::from_blob(data, sizes, strides, options.device(c10::kCPU))
                          .to(spec.device));
        continue;
      }
      out.push_back(at::from_blob(data, sizes, strides, options));
      if (slot.nhwc)
        out.back() = out.back().permute({0, 3, 1, 2});
      if (slot.channels_last)
        out.back() = out.back().contiguous(c10::MemoryFormat::ChannelsLast);
    } catch (const c10::Error &e) {  // say which buffer (torch's check of where it lives)
      char where[32];
      std::snprintf(where, sizeof where, "%p", data);
      throw std::runtime_error("mlirfuse extern call of " + spec.op.schema().name() + ": " +
                               what + " " + std::to_string(out.size()) + " (" + where +
                               ", sizes " + sizes_text(sizes) + "): " +
                               e.what_without_backtrace());
    }
  }
  return out;
}

void run(const Spec &spec, const std::vector<at::Tensor> &ins,
         const std::vector<at::Tensor> &outs) {
  std::vector<c10::IValue> stack;
  stack.reserve(spec.args.size());
  for (const auto &a : spec.args) {
    switch (a.kind) {
      case Kind::Tensor:
        stack.emplace_back(ins.at(a.indices[0]));
        break;
      case Kind::TensorList: {
        c10::List<at::Tensor> list;
        for (auto i : a.indices) list.push_back(ins.at(i));
        stack.emplace_back(list);
        break;
      }
      case Kind::OptionalTensorList: {
        c10::List<std::optional<at::Tensor>> list;
        for (auto i : a.indices)
          list.push_back(i < 0 ? std::optional<at::Tensor>() : ins.at(i));
        stack.emplace_back(list);
        break;
      }
      case Kind::Constant:
        stack.push_back(a.constant);
        break;
    }
  }
  if (tracing()) std::fprintf(stderr, "mlirfuse extern %s: run\n", spec.op.schema().name().c_str());
  spec.op.callBoxed(&stack);
  if (tracing()) std::fprintf(stderr, "mlirfuse extern %s: ran\n", spec.op.schema().name().c_str());
  std::vector<at::Tensor> results;
  for (auto &value : stack) {
    if (value.isTensor()) {
      results.push_back(value.toTensor());
    } else if (value.isTensorList()) {
      for (const at::Tensor &t : value.toTensorList()) results.push_back(t);
    }
  }
  if (results.size() != outs.size()) {
    throw std::runtime_error("mlirfuse extern call of " + spec.op.schema().name() + ": " +
                             std::to_string(results.size()) + " results, compiled for " +
                             std::to_string(outs.size()));
  }
  for (size_t i = 0; i < outs.size(); ++i) {
    if (results[i].sizes() != outs[i].sizes()) {
      throw std::runtime_error("mlirfuse extern call of " + spec.op.schema().name() +
                               ": result " + std::to_string(i) + " has sizes " +
                               sizes_text(results[i].sizes()) + ", compiled for " +
                               sizes_text(outs[i].sizes()));
    }
    outs[i].copy_(results[i]);
  }
}

}  // namespace

extern "C" {

/* The call compiled code makes: a memref<?xindex> of the words above. */
void mlirfuse_extern_call(void *allocated, int64_t *aligned, int64_t offset, int64_t size,
                          int64_t stride) {
  (void)allocated;
  (void)size;
  (void)stride;
  const int64_t *words = aligned + offset;
  std::vector<at::Tensor> outs;
  try {
    std::string text(reinterpret_cast<const char *>(words[0]),
                     static_cast<size_t>(words[1]));
    const Spec &spec = lookup(text);
    size_t word = 2;
    auto ins = views(spec, spec.ins, words, &word, "input");
    outs = views(spec, spec.outs, words, &word, "result");
    run(spec, ins, outs);
  } catch (const std::exception &e) {
    if (error_count++ == 0 || last_error.empty()) last_error = message(e);
    for (auto &t : outs) {
      try {
        t.zero_();
      } catch (...) {
      }
    }
  }
}

/* Parses `spec` ahead of the first call (its op is looked up); 0 on success, else 1 and
   the reason in mlirfuse_extern_last_error. */
int mlirfuse_extern_prepare(const char *spec, int64_t length) {
  try {
    lookup(std::string(spec, static_cast<size_t>(length)));
    return 0;
  } catch (const std::exception &e) {
    last_error = message(e);
    return 1;
  }
}

/* Errors of this thread's extern calls so far. */
int64_t mlirfuse_extern_errors(void) { return error_count; }

/* The first error since the last call of this function (then cleared). */
const char *mlirfuse_extern_last_error(void) {
  static thread_local std::string taken;
  taken = last_error;
  last_error.clear();
  return taken.c_str();
}

}  // extern "C"
