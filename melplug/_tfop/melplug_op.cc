// melplug's TensorFlow op: MelplugMelSpectrogram runs melplug's C entry point (melplug/_cabi.py, a
// numba.cfunc) on a (..., samples) tensor, with no Python per call.  Built and loaded by
// melplug/_tfop/__init__.py; the attrs hold process-local addresses (the entry point and the packed
// plan, kept alive by the Python object that made the graph), so a graph holding this op only runs
// in the process that built it, like tf.numpy_function.
#include <cstdint>
#include <string>
#include <vector>

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

typedef int64_t (*Entry)(int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t);

struct Geometry {
  int64_t width, frame_length, hop, pad, input_length, out_frames, stack_frames, layout;

  // melplug._plan.plan_frames: (computed, output rows) for n samples.
  void frames(int64_t n, int64_t* computed, int64_t* rows) const {
    int64_t m = input_length ? input_length : n;
    int64_t num = m + 2 * pad - frame_length;
    int64_t q = num >= 0 ? num / hop : -((-num + hop - 1) / hop);  // Python's floor division
    int64_t c = 1 + q;
    if (c < 0) c = 0;
    if (out_frames > 0 && c > out_frames) c = out_frames;
    *computed = c;
    *rows = out_frames > 0 ? out_frames : (c + stack_frames - 1) / stack_frames * stack_frames;
  }

  // The per-example output shape (FeatureExtractor._example_shape).
  std::vector<int64_t> example_shape(int64_t rows) const {
    if (layout == 2) return {rows / stack_frames, width * stack_frames};
    if (layout == 1) return {rows, width};
    return {width, rows};
  }
};

Status get_geometry(OpKernelConstruction* ctx, Geometry* g) {
  TF_RETURN_IF_ERROR(ctx->GetAttr("width", &g->width));
  TF_RETURN_IF_ERROR(ctx->GetAttr("frame_length", &g->frame_length));
  TF_RETURN_IF_ERROR(ctx->GetAttr("hop", &g->hop));
  TF_RETURN_IF_ERROR(ctx->GetAttr("pad", &g->pad));
  TF_RETURN_IF_ERROR(ctx->GetAttr("input_length", &g->input_length));
  TF_RETURN_IF_ERROR(ctx->GetAttr("out_frames", &g->out_frames));
  TF_RETURN_IF_ERROR(ctx->GetAttr("stack_frames", &g->stack_frames));
  TF_RETURN_IF_ERROR(ctx->GetAttr("layout", &g->layout));
  return Status();
}

std::string py_tuple(const std::vector<int64_t>& dims) {
  std::string s = "(";
  for (size_t i = 0; i < dims.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(dims[i]);
  }
  return s + (dims.size() == 1 ? ",)" : ")");
}

}  // namespace

REGISTER_OP("MelplugMelSpectrogram")
    .Input("audio: T")
    .Output("mel: T")
    .Attr("T: {float, double}")
    .Attr("entry: int")
    .Attr("plan_i: int")
    .Attr("plan_f: int")
    .Attr("width: int")
    .Attr("frame_length: int")
    .Attr("hop: int")
    .Attr("pad: int")
    .Attr("input_length: int")
    .Attr("out_frames: int")
    .Attr("stack_frames: int")
    .Attr("layout: int")
    .Attr("reflect_once: bool")
    .Attr("normalize_ddof: int")
    .Attr("raise_nonfinite: bool")
    .Attr("what: string")
    .SetShapeFn([](shape_inference::InferenceContext* c) {
      shape_inference::ShapeHandle in = c->input(0);
      if (!c->RankKnown(in) || c->Rank(in) < 1) {
        c->set_output(0, c->UnknownShape());
        return Status();
      }
      Geometry g;
      TF_RETURN_IF_ERROR(c->GetAttr("width", &g.width));
      TF_RETURN_IF_ERROR(c->GetAttr("frame_length", &g.frame_length));
      TF_RETURN_IF_ERROR(c->GetAttr("hop", &g.hop));
      TF_RETURN_IF_ERROR(c->GetAttr("pad", &g.pad));
      TF_RETURN_IF_ERROR(c->GetAttr("input_length", &g.input_length));
      TF_RETURN_IF_ERROR(c->GetAttr("out_frames", &g.out_frames));
      TF_RETURN_IF_ERROR(c->GetAttr("stack_frames", &g.stack_frames));
      TF_RETURN_IF_ERROR(c->GetAttr("layout", &g.layout));
      int rank = c->Rank(in);
      std::vector<shape_inference::DimensionHandle> dims;
      for (int i = 0; i < rank - 1; ++i) dims.push_back(c->Dim(in, i));
      shape_inference::DimensionHandle n = c->Dim(in, rank - 1);
      if (c->ValueKnown(n) && c->Value(n) > 0) {
        int64_t computed, rows;
        g.frames(c->Value(n), &computed, &rows);
        for (int64_t d : g.example_shape(rows)) dims.push_back(c->MakeDim(d));
      } else {
        if (g.layout == 0) {
          dims.push_back(c->MakeDim(g.width));
          dims.push_back(c->UnknownDim());
        } else {
          dims.push_back(c->UnknownDim());
          dims.push_back(c->MakeDim(g.layout == 2 ? g.width * g.stack_frames : g.width));
        }
      }
      c->set_output(0, c->MakeShape(dims));
      return Status();
    });

template <typename T>
class MelplugMelSpectrogramOp : public OpKernel {
 public:
  explicit MelplugMelSpectrogramOp(OpKernelConstruction* ctx) : OpKernel(ctx) {
    int64_t entry;
    OP_REQUIRES_OK(ctx, ctx->GetAttr("entry", &entry));
    entry_ = reinterpret_cast<Entry>(entry);
    OP_REQUIRES_OK(ctx, ctx->GetAttr("plan_i", &plan_i_));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("plan_f", &plan_f_));
    OP_REQUIRES_OK(ctx, get_geometry(ctx, &g_));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("reflect_once", &reflect_once_));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("normalize_ddof", &normalize_ddof_));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("raise_nonfinite", &raise_nonfinite_));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("what", &what_));
  }

  void Compute(OpKernelContext* ctx) override {
    const Tensor& audio = ctx->input(0);
    const TensorShape& shape = audio.shape();
    const int rank = shape.dims();
    if (rank == 0) return Fail(ctx, "audio is a scalar (0-d); pass an array of shape (..., samples)");
    std::vector<int64_t> lead;
    for (int i = 0; i < rank - 1; ++i) lead.push_back(shape.dim_size(i));
    const int64_t n = shape.dim_size(rank - 1);
    if (shape.num_elements() == 0) {
      std::vector<int64_t> all(lead);
      all.push_back(n);
      return Fail(ctx, "audio is empty (shape " + py_tuple(all) +
                           "); it needs at least one example of >= 1 sample");
    }
    int64_t computed, rows;
    g_.frames(n, &computed, &rows);
    // FeatureExtractor._check_length
    if (reflect_once_ && g_.pad) {
      int64_t n_eff = g_.input_length ? g_.input_length : n;
      if (n_eff <= g_.pad)
        return Fail(ctx, "audio has " + std::to_string(n_eff) +
                             " samples; pad_mode='reflect_once' (torch's reflect padding) needs more than the " +
                             std::to_string(g_.pad) + " samples it pads by: clips of at least " +
                             std::to_string(g_.pad + 1) + " samples");
    }
    if (normalize_ddof_ >= 0 && computed <= normalize_ddof_) {
      int64_t shortest = g_.frame_length - 2 * g_.pad + normalize_ddof_ * g_.hop;
      return Fail(ctx, "audio has " + std::to_string(n) + " samples, " + std::to_string(computed) +
                           " frame(s); per-clip normalisation (normalize_ddof=" + std::to_string(normalize_ddof_) +
                           ") needs more than " + std::to_string(normalize_ddof_) + ": clips of at least " +
                           std::to_string(shortest) + " samples");
    }
    if (g_.out_frames > 0 && computed == 0) {
      return Fail(ctx, "audio has " + std::to_string(n) + " samples, shorter than one frame (" +
                           std::to_string(g_.frame_length) + " samples): too short for a fixed output of " +
                           std::to_string(g_.out_frames) + " frames; pad the clip to at least " +
                           std::to_string(g_.frame_length) + " samples");
    }
    const int64_t batch = shape.num_elements() / n;
    TensorShape out_shape;
    for (int64_t d : lead) out_shape.AddDim(d);
    for (int64_t d : g_.example_shape(rows)) out_shape.AddDim(d);
    Tensor* out = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, out_shape, &out));
    std::vector<uint8_t> flags(batch, 0);
    const int64_t rc = entry_(plan_i_, plan_f_, reinterpret_cast<int64_t>(audio.flat<T>().data()), batch, n,
                              reinterpret_cast<int64_t>(out->flat<T>().data()),
                              reinterpret_cast<int64_t>(flags.data()));
    if (rc != 0 && raise_nonfinite_) ReportNonfinite(ctx, lead, flags);
  }

 private:
  // melplug.tf's wording: the core's message, "audio" named as the element's field, with the adapter's prefix.
  void Fail(OpKernelContext* ctx, std::string message) {
    size_t at = message.find("audio");
    if (at != std::string::npos && what_ != "audio") message.replace(at, 5, what_);
    ctx->CtxFailure(errors::InvalidArgument("melplug.tf.MelSpectrogram: " + message));
  }

  // melplug._driver.raise_nonfinite with FeatureExtractor._call_array's names for the examples.
  void ReportNonfinite(OpKernelContext* ctx, const std::vector<int64_t>& lead, const std::vector<uint8_t>& flags) {
    int64_t first = -1, count = 0;
    for (size_t e = 0; e < flags.size(); ++e) {
      if (flags[e]) {
        if (first < 0) first = static_cast<int64_t>(e);
        ++count;
      }
    }
    if (first < 0) return;
    std::string where;
    if (lead.empty()) {
      where = "audio";
    } else if (lead.size() == 1) {
      where = "audio example " + std::to_string(first);
    } else {
      std::vector<int64_t> index(lead.size());
      int64_t rest = first;
      for (size_t i = lead.size(); i-- > 0;) {
        index[i] = rest % lead[i];
        rest /= lead[i];
      }
      where = "audio example " + py_tuple(index);
    }
    const char* dtype = sizeof(T) == 4 ? "float32" : "float64";
    std::string problem, fix;
    if (flags[first] & 1) {
      problem = "contains NaN or Inf samples";
      fix = "clean the audio";
    } else {
      problem = std::string("gives non-finite values although its samples are finite: they are too large for ") +
                dtype + " arithmetic (the power overflows)";
      fix = "scale the audio down (samples are usually in [-1, 1]) or pass dtype='float64'";
    }
    Fail(ctx, where + " " + problem + " (" + std::to_string(count) + " of " + std::to_string(flags.size()) +
                  " examples affected); " + fix +
                  ", or pass on_nonfinite='propagate' to get NaN output for such examples");
  }

  Entry entry_;
  int64_t plan_i_, plan_f_;
  Geometry g_;
  bool reflect_once_, raise_nonfinite_;
  int64_t normalize_ddof_;
  std::string what_;
};

REGISTER_KERNEL_BUILDER(Name("MelplugMelSpectrogram").Device(DEVICE_CPU).TypeConstraint<float>("T"),
                        MelplugMelSpectrogramOp<float>);
REGISTER_KERNEL_BUILDER(Name("MelplugMelSpectrogram").Device(DEVICE_CPU).TypeConstraint<double>("T"),
                        MelplugMelSpectrogramOp<double>);
