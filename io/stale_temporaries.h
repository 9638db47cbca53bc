// Leftovers of killed writers: an AtomicFile's "<out>.tmp-<pid>" and a FolderSwap's staging folder
// "<out>.tmp-<pid>" (or, once `out` is back in place, its "<out>.old-<pid>") whose process no longer
// runs. The next writer of the same output removes them (AtomicFile and FolderSwap call this), so a
// kill at any moment leaves nothing that outlives the next run. A process that still runs (another
// export of the same output) keeps its files.
#pragma once
#include <string>

namespace gq {

// Removes the stale temporaries beside `out`; returns how many. Never throws (a leftover that
// cannot be removed stays).
int remove_stale_temporaries(const std::string& out);

}  // namespace gq
