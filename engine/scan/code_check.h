#pragma once
// TorchScript source records (code/**.py), read as text before the model is loaded.
#include "engine/scan/scan.h"

#include <string>
#include <string_view>
#include <vector>

namespace modelgate::engine::scan {

/// Findings in one source record named `record`:
/// - code/setstate (critical): a `__setstate__` or `__getstate__` method that is not trivial.
///   These run inside torch::jit::load, before any check on the graph can. Trivial means what
///   torch.jit writes for a module that only saves and restores attributes: a `__getstate__`
///   whose body is only `name = self.attr` lines and one `return (name, ...)` (or `return name`),
///   and a `__setstate__` whose body is only `self.attr = (state)[i]` or `self.attr = state`
///   lines and `return None`. Anything else in either body (a call, a loop, a branch) is not.
/// - code/file-access (critical): a call of torch.save, torch.load, torch.from_file or their
///   ops.aten spellings anywhere in the record.
std::vector<ScanFinding> check_code(std::string_view source, const std::string& record);

}  // namespace modelgate::engine::scan
