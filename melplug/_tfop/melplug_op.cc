// melplug's TensorFlow op: MelplugMelSpectrogram runs melplug's C entry points (melplug/_cabi.py,
// numba.cfuncs) on a (..., samples) tensor, with no Python per call.  Built and loaded by
// melplug/_tfop/__init__.py.
//
// The op computes nothing melplug's Python computes: its output shape and length check come from
// melplug_geometry, the numbers from melplug_mel, and its error texts are templates made by
// melplug/_geometry.py (attrs; "{samples}"-style placeholders are filled in here).
//
// The attrs hold addresses in the process that built the graph (the entry points and the packed
// plan, kept alive by melplug.tf).  Each graph also carries that process's token
// (MelplugProcessToken, random per load of this library): in any other process (a SavedModel, a
// serialised GraphDef) the shape function and the kernel refuse to run instead of calling a stale
// address.
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "tensorflow/core/framework/common_shape_fns.h"
#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/shape_inference.h"

using tensorflow::DEVICE_CPU;
using tensorflow::OpKernel;
using tensorflow::OpKernelConstruction;
using tensorflow::OpKernelContext;
using tensorflow::Status;
using tensorflow::Tensor;
using tensorflow::TensorShape;
namespace shape_inference = tensorflow::shape_inference;
namespace errors = tensorflow::errors;

namespace {

// melplug._cabi: the entry points' signatures, their return codes and what melplug_geometry writes.
typedef int64_t (*MelEntry)(int64_t, int64_t, int64_t, int64_t, int64_t, int64_t);
typedef int64_t (*GeometryEntry)(int64_t, int64_t, int64_t);
constexpr int64_t kRaised = 0, kFlagged = 2;
struct Geometry {
  int64_t shape_0, shape_1, error, samples, frames;
};

const char kPrefix[] = "melplug.tf.MelSpectrogram: ";

int64_t ProcessToken() {
  static const int64_t token = [] {
    std::random_device device;
    uint64_t t = (static_cast<uint64_t>(device()) << 32) ^ device();
    t ^= static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
    t ^= static_cast<uint64_t>(getpid()) << 40;
    return static_cast<int64_t>((t & 0x7fffffffffffffffULL) | 1);
  }();
  return token;
}

// Every use of the addresses goes through here: they are only valid in the process that made them.
template <typename Context>
Status CheckToken(Context* c) {
  int64_t token;
  TF_RETURN_IF_ERROR(c->GetAttr("token", &token));
  if (token != ProcessToken())
    return errors::InvalidArgument(
        kPrefix,
        "this graph was built in another process; melplug's op holds that process's addresses and cannot be "
        "serialised (no SavedModel, GraphDef or tf.data service): build the melplug map in the process that "
        "runs it");
  return Status();
}

// Fills "{name}" placeholders in one pass (text put in is not scanned again).
std::string Fill(const std::string& text, const std::vector<std::pair<std::string, std::string>>& values) {
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    bool done = false;
    if (text[i] == '{') {
      for (const auto& kv : values) {
        const std::string key = "{" + kv.first + "}";
        if (text.compare(i, key.size(), key) == 0) {
          out += kv.second;
          i += key.size();
          done = true;
          break;
        }
      }
    }
    if (!done) out += text[i++];
  }
  return out;
}

std::string py_tuple(const std::vector<int64_t>& dims) {
  std::string s = "(";
  for (size_t i = 0; i < dims.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(dims[i]);
  }
  return s + (dims.size() == 1 ? ",)" : ")");
}

Status raised(const char* entry) {
  return errors::Internal(kPrefix, "melplug's C entry point ", entry,
                          " raised (Python printed the exception to stderr, e.g. a MemoryError); no output");
}

}  // namespace

REGISTER_OP("MelplugProcessToken").Output("token: int64").SetIsStateful().SetShapeFn(shape_inference::ScalarShape);

class MelplugProcessTokenOp : public OpKernel {
 public:
  explicit MelplugProcessTokenOp(OpKernelConstruction* ctx) : OpKernel(ctx) {}
  void Compute(OpKernelContext* ctx) override {
    Tensor* out = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, TensorShape({}), &out));
    out->scalar<int64_t>()() = ProcessToken();
  }
};
REGISTER_KERNEL_BUILDER(Name("MelplugProcessToken").Device(DEVICE_CPU), MelplugProcessTokenOp);

REGISTER_OP("MelplugMelSpectrogram")
    .Input("audio: T")
    .Output("mel: T")
    .Attr("T: {float, double}")
    .Attr("token: int")                        // MelplugProcessToken of the process that built the graph
    .Attr("mel_entry: int")                    // melplug_mel for T
    .Attr("geometry_entry: int")               // melplug_geometry
    .Attr("plan: int")                         // the packed plan (melplug._cabi.PLAN_RECORD)
    .Attr("what: string")                      // the audio's name in messages ("audio", "element['x']")
    .Attr("length_errors: list(string)")       // item i: the text of melplug_geometry's error i + 1
    .Attr("bad_input_error: string")           // the text for NaN/Inf samples ...
    .Attr("bad_output_error: string")          // ... and for finite samples giving non-finite values
    .Attr("bad_input_flag: int")               // the flag bit of the first case
    .Attr("scalar_error: string")              // the text for 0-d audio ...
    .Attr("empty_error: string")               // ... for audio with no sample ("{shape}")
    .Attr("example_name: string")              // how the NaN/Inf error names example "{index}"
    .SetShapeFn([](shape_inference::InferenceContext* c) {
      TF_RETURN_IF_ERROR(CheckToken(c));
      shape_inference::ShapeHandle in = c->input(0);
      if (!c->RankKnown(in) || c->Rank(in) < 1) {
        c->set_output(0, c->UnknownShape());
        return Status();
      }
      int64_t geometry, plan;
      TF_RETURN_IF_ERROR(c->GetAttr("geometry_entry", &geometry));
      TF_RETURN_IF_ERROR(c->GetAttr("plan", &plan));
      const int rank = c->Rank(in);
      shape_inference::DimensionHandle n = c->Dim(in, rank - 1);
      const int64_t samples = c->ValueKnown(n) && c->Value(n) > 0 ? c->Value(n) : -1;
      Geometry g;
      if (reinterpret_cast<GeometryEntry>(geometry)(plan, samples, reinterpret_cast<int64_t>(&g)) == kRaised)
        return raised("melplug_geometry");
      std::vector<shape_inference::DimensionHandle> dims;
      for (int i = 0; i < rank - 1; ++i) dims.push_back(c->Dim(in, i));
      for (int64_t d : {g.shape_0, g.shape_1}) dims.push_back(d < 0 ? c->UnknownDim() : c->MakeDim(d));
      c->set_output(0, c->MakeShape(dims));
      return Status();
    });

template <typename T>
class MelplugMelSpectrogramOp : public OpKernel {
 public:
  explicit MelplugMelSpectrogramOp(OpKernelConstruction* ctx) : OpKernel(ctx) {
    OP_REQUIRES_OK(ctx, CheckToken(ctx));
    int64_t mel, geometry;
    OP_REQUIRES_OK(ctx, ctx->GetAttr("mel_entry", &mel));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("geometry_entry", &geometry));
    mel_ = reinterpret_cast<MelEntry>(mel);
    geometry_ = reinterpret_cast<GeometryEntry>(geometry);
    OP_REQUIRES_OK(ctx, ctx->GetAttr("plan", &plan_));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("what", &what_));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("length_errors", &length_errors_));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("bad_input_error", &bad_input_error_));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("bad_output_error", &bad_output_error_));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("bad_input_flag", &bad_input_flag_));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("scalar_error", &scalar_error_));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("empty_error", &empty_error_));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("example_name", &example_name_));
  }

  void Compute(OpKernelContext* ctx) override {
    const Tensor& audio = ctx->input(0);
    const TensorShape& shape = audio.shape();
    const int rank = shape.dims();
    if (rank == 0) return ctx->CtxFailure(errors::InvalidArgument(scalar_error_));
    std::vector<int64_t> lead;
    for (int i = 0; i < rank - 1; ++i) lead.push_back(shape.dim_size(i));
    const int64_t n = shape.dim_size(rank - 1);
    if (shape.num_elements() == 0) {
      std::vector<int64_t> all(lead);
      all.push_back(n);
      return ctx->CtxFailure(errors::InvalidArgument(Fill(empty_error_, {{"shape", py_tuple(all)}})));
    }
    Geometry g;
    if (geometry_(plan_, n, reinterpret_cast<int64_t>(&g)) == kRaised)
      return ctx->CtxFailure(raised("melplug_geometry"));
    if (g.error != 0) {
      const size_t i = static_cast<size_t>(g.error - 1);
      const std::string text = i < length_errors_.size() ? length_errors_[i] : "clip too short (error {error})";
      return ctx->CtxFailure(errors::InvalidArgument(Fill(text, {{"samples", std::to_string(g.samples)},
                                                                 {"frames", std::to_string(g.frames)},
                                                                 {"error", std::to_string(g.error)}})));
    }
    const int64_t batch = shape.num_elements() / n;
    TensorShape out_shape;
    for (int64_t d : lead) out_shape.AddDim(d);
    out_shape.AddDim(g.shape_0);
    out_shape.AddDim(g.shape_1);
    Tensor* out = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, out_shape, &out));
    std::vector<uint8_t> flags(batch, 0);
    const int64_t rc = mel_(plan_, reinterpret_cast<int64_t>(audio.flat<T>().data()), batch, n,
                            reinterpret_cast<int64_t>(out->flat<T>().data()), reinterpret_cast<int64_t>(flags.data()));
    if (rc == kRaised) return ctx->CtxFailure(raised("melplug_mel"));
    if (rc == kFlagged) ReportNonfinite(ctx, lead, flags);
  }

 private:
  // melplug._geometry.nonfinite_message and example_name, as templates made by those functions.
  void ReportNonfinite(OpKernelContext* ctx, const std::vector<int64_t>& lead, const std::vector<uint8_t>& flags) {
    int64_t first = -1, count = 0;
    for (size_t e = 0; e < flags.size(); ++e) {
      if (flags[e]) {
        if (first < 0) first = static_cast<int64_t>(e);
        ++count;
      }
    }
    if (first < 0) return;
    std::string where = what_;
    if (lead.size() == 1) {
      where = Fill(example_name_, {{"index", std::to_string(first)}});
    } else if (lead.size() > 1) {
      std::vector<int64_t> index(lead.size());
      int64_t rest = first;
      for (size_t i = lead.size(); i-- > 0;) {
        index[i] = rest % lead[i];
        rest /= lead[i];
      }
      where = Fill(example_name_, {{"index", py_tuple(index)}});
    }
    const std::string& text = (flags[first] & bad_input_flag_) ? bad_input_error_ : bad_output_error_;
    ctx->CtxFailure(errors::InvalidArgument(Fill(
        text, {{"where", where}, {"count", std::to_string(count)}, {"total", std::to_string(flags.size())}})));
  }

  MelEntry mel_;
  GeometryEntry geometry_;
  int64_t plan_, bad_input_flag_;
  std::string what_, bad_input_error_, bad_output_error_, scalar_error_, empty_error_, example_name_;
  std::vector<std::string> length_errors_;
};

REGISTER_KERNEL_BUILDER(Name("MelplugMelSpectrogram").Device(DEVICE_CPU).TypeConstraint<float>("T"),
                        MelplugMelSpectrogramOp<float>);
REGISTER_KERNEL_BUILDER(Name("MelplugMelSpectrogram").Device(DEVICE_CPU).TypeConstraint<double>("T"),
                        MelplugMelSpectrogramOp<double>);
