#include "export/compressed_tensors_precheck.h"

#include "io/error.h"
#include "run/run_folder.h"

namespace gq::compressed_tensors {

void precheck_learned_scales(const std::vector<Item>& items, const ResolvedRecipe& rr, ItemWriter& writer) {
  const Inputs& in = writer.in;
  for (const Item& it : items) {
    if ((it.kind != ItemKind::Packed && it.kind != ItemKind::Int8) || !in.from_run || writer.learned.count(it.module)) continue;
    if (in.has_learned_scales(it.module)) {
      writer.learned.insert(it.module);
    } else if (rr.learnable_scales) {
      throw FormatError(run_folder::file_in(in.checkpoint, run_folder::kQuantParams) + ": tensor '" + it.module +
                        ".weight.scale' is missing (the recipe has learnable_scales)");
    }
  }
}

}  // namespace gq::compressed_tensors
