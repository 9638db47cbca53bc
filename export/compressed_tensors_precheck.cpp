#include "export/compressed_tensors_precheck.h"

#include "io/error.h"
#include "run/run_folder.h"

namespace gq::compressed_tensors {

void precheck_learned_scales(const std::vector<Item>& items, const ResolvedRecipe& rr, bool tied_head, ItemWriter& writer) {
  const Inputs& in = writer.in;
  for (const Item& it : items) {
    const std::string& m = it.weight_module;
    if ((it.kind != ItemKind::Packed && it.kind != ItemKind::Int8) || !in.from_run || writer.learned.count(m)) continue;
    if (in.has_learned_scales(m)) {
      writer.learned.insert(m);
    } else if (rr.learns_scale(m, tied_head)) {  // embeddings (and a tied head) stay RTN
      throw FormatError(run_folder::file_in(in.checkpoint, run_folder::kQuantParams) + ": tensor '" + m +
                        ".weight.scale' is missing (the recipe has learnable_scales)");
    }
  }
}

}  // namespace gq::compressed_tensors
