#include "qat/quantizer.h"

namespace gq {

void QuantSeam::set(QuantizerPtr q) {
  // Module::replace_module requires an existing child; unregister by swapping in the new one.
  if (q_ && !q) {
    owner_->unregister_module(name_);
  } else if (q_ && q) {
    owner_->replace_module(name_, q);
  } else if (q) {
    owner_->register_module(name_, q);
  }
  q_ = std::move(q);
}

}  // namespace gq
