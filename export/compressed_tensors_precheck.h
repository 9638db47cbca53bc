// The refusal a QAT run's export makes before anything is written: a run whose recipe learned
// scales but whose checkpoint lacks them for a module. Also decides which modules are written with
// the learned scales.
#pragma once
#include <vector>

#include "export/compressed_tensors_items.h"
#include "export/compressed_tensors_writer.h"
#include "recipes/recipe.h"

namespace gq::compressed_tensors {

// Records in `writer.learned` the modules that the run's learned scales will be written for.
// Nothing to do for a plain checkpoint or a run exported with other schemes. Only the modules whose
// scales the fake-quant model learns (ResolvedRecipe::learns_scale) must have them.
void precheck_learned_scales(const std::vector<Item>& items, const ResolvedRecipe& rr, bool tied_head, ItemWriter& writer);

}  // namespace gq::compressed_tensors
