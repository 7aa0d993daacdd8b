#include "engine/model_fingerprint.h"

#include "engine/dataset.h"
#include "engine/errors.h"
#include "fingerprint/hashing.h"

#include <fmt/format.h>

#include <algorithm>

namespace modelgate::engine {

// The probe batch a fingerprint specification describes: its synthetic inputs, then its
// real samples, re-read from the dataset it names (which must not have changed).
at::Tensor probes_for(const fingerprint::ProbeSpec& spec) {
  auto probes = fingerprint::synthetic_probes(spec);
  if (spec.real <= 0) return probes;
  const auto data = load_dataset(spec.data_path);
  const auto digest = fingerprint::file_sha256(spec.data_path);
  if (!spec.data_sha256.empty() && digest != spec.data_sha256)
    throw InputError(fmt::format("{}: the probe dataset changed since the fingerprint was taken (sha256 {}…, expected {}…)",
                                 spec.data_path, digest.substr(0, 12), spec.data_sha256.substr(0, 12)));
  if (data.size() < spec.real)
    throw InputError(fmt::format("{}: has {} samples, the fingerprint needs {}", spec.data_path, data.size(), spec.real));
  return at::cat({probes, data.inputs(0, spec.real)});
}

fingerprint::Fingerprint fingerprint_model(LoadedModel& model, const fingerprint::ProbeSpec& spec,
                                           const std::vector<std::string>& layers, const c10::Device& device) {
  const auto probes = probes_for(spec).to(device);
  {
    at::NoGradGuard no_grad;  // fails early, with the model's own message, on a shape mismatch
    forward_logits(model, probes.narrow(0, 0, std::min<int64_t>(2, probes.size(0))));
  }
  fingerprint::Fingerprint fp;
  try {
    fp = fingerprint::compute(model.module, model_input(model, probes), spec, layers);
  } catch (const std::invalid_argument& e) {
    throw InputError(fmt::format("{}: {}", model.path.string(), one_line(e)));
  }
  fp.model_sha256 = model.sha256;
  return fp;
}

}  // namespace modelgate::engine
