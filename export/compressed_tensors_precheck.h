// The refusals a QAT run's export makes before anything is written: learned scales that the file's
// scale dtype cannot hold (the exported weights would differ from the trained ones), a run whose
// recipe learned scales but whose checkpoint lacks them, and an RTN-trained scheme whose first
// module already shows the dtype problem (the writer checks every row anyway).
#pragma once
#include <vector>

#include "export/compressed_tensors_items.h"
#include "export/compressed_tensors_writer.h"
#include "formats/safetensors.h"
#include "recipes/recipe.h"

namespace gq::compressed_tensors {

// Also records in `writer.learned` the modules that the run's learned scales will be written for.
// Nothing to check for a plain checkpoint.
void precheck_learned_scales(const std::vector<Item>& items, const Checkpoint& ck, const ResolvedRecipe& rr, ItemWriter& writer);

}  // namespace gq::compressed_tensors
