#pragma once

#include "core/model.h"

namespace crm {

// The built-in model with BG/NBD as its purchase model (the built-in one is
// Pareto/NBD): for the tests whose figures and trajectories are BG/NBD's.
inline Model BuiltInBgNbdModel() {
  Model model;
  model.purchase.kind = PurchaseModelKind::kBgNbd;
  return model;
}

}  // namespace crm
