#include "export/compressed_tensors_precheck.h"

#include <set>

#include "export/compressed_tensors_messages.h"
#include "io/error.h"
#include "io/half.h"
#include "model/checkpoint_layout.h"
#include "quant/rounding.h"
#include "run/run_folder.h"

namespace gq::compressed_tensors {

void precheck_learned_scales(const std::vector<Item>& items, const Checkpoint& ck, const ResolvedRecipe& rr, ItemWriter& writer) {
  const Inputs& in = writer.in;
  const DType scale = writer.scale;
  std::set<std::string> seen;
  bool rtn_checked = false;
  for (const Item& it : items) {
    if ((it.kind != ItemKind::Packed && it.kind != ItemKind::Int8) || !in.from_run || seen.count(it.module)) continue;
    seen.insert(it.module);
    if (!in.has_learned_scales(it.module)) {
      if (rr.learnable_scales)
        throw FormatError(run_folder::file_in(in.checkpoint, run_folder::kQuantParams) + ": tensor '" + it.module +
                          ".weight.scale' is missing (the recipe has learnable_scales)");
      if (!rtn_checked && it.scheme.scale_dtype != scale) {
        rtn_checked = true;
        std::vector<float> x(size_t(it.rows * it.cols));
        row_slice(ck.tensor(it.source), it.cols, it.row0, it.rows).to_f32(x.data());
        quant::QuantizedWeight q;
        try {
          q = quant::quantize_weight(it.scheme, x.data(), it.rows, it.cols);
        } catch (const FormatError& e) {
          throw FormatError(writer.out + ": tensor '" + it.name + "' (from '" + it.source + "'): " + e.what());
        }
        writer.check_storable(q, it, it.row0);
      }
      continue;
    }
    writer.learned.insert(it.module);
    if (it.scheme.scale_dtype == scale) continue;
    const int64_t spr = quant::weight_scales_per_row(it.scheme, it.cols);
    const std::vector<float> s = in.quant_params->weight_rows(it.module, "scale", it.total_rows, spr, 0, it.total_rows);
    for (size_t i = 0; i < s.size(); ++i) {
      const float trained = quant::round_scale_to(s[i], it.scheme.scale_dtype);
      const float stored = quant::round_scale_to(trained, scale);
      if (float_bits(stored) != float_bits(trained)) {
        quant::WeightScheme alt = it.scheme;
        alt.scale_dtype = scale;
        throw FormatError(in.checkpoint + ": module '" + it.module + "' was trained with " + flag_dtype_name(it.scheme.scale_dtype) +
                          " scales (" + quant::weight_scheme_name(it.scheme) + "); its learned scale " + exact_float(trained) +
                          " (row " + std::to_string(int64_t(i) / spr) + ") becomes " + exact_float(stored) + " in " +
                          flag_dtype_name(scale) + ", changing the exported weights: export with --scale-dtype " +
                          flag_dtype_name(it.scheme.scale_dtype) + ", or train with " + quant::weight_scheme_name(alt));
      }
    }
  }
}

}  // namespace gq::compressed_tensors
