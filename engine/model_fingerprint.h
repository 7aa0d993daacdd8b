#pragma once
// A loaded model's fingerprint on the probes a specification describes (fingerprint and compare).
#include "engine/model.h"
#include "fingerprint/fingerprint.h"

#include <string>
#include <vector>

namespace modelgate::engine {

/// The probe batch `spec` describes: its synthetic inputs, then its real samples, re-read from
/// the dataset it names. InputError when that dataset changed or is too small.
at::Tensor probes_for(const fingerprint::ProbeSpec& spec);

/// Fingerprints `model` on `spec`'s probes at `layers`. InputError when the model rejects them.
fingerprint::Fingerprint fingerprint_model(LoadedModel& model, const fingerprint::ProbeSpec& spec,
                                           const std::vector<std::string>& layers, const c10::Device& device);

}  // namespace modelgate::engine
