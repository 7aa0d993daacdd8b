#pragma once
// The check on a loaded model's graphs, before any forward: every method of every submodule is
// inlined and each node kind checked (after elastic/ml-cpp's CModelGraphValidator).
#include "engine/scan/scan.h"

#include <torch/script.h>

namespace modelgate::engine::scan {

/// What the graphs of a model hold.
struct GraphCheck {
  std::vector<ScanFinding> findings;
  int64_t nodes = 0;    ///< nodes visited, all inlined methods together
  int64_t methods = 0;  ///< methods inlined
};

/// Inlines every method of `module` and of each submodule and checks each node:
/// - graph/forbidden-op (critical): aten::save, aten::from_file, and the distributed RPC ops
///   (prim::rpc_async, prim::rpc_sync, prim::rpc_remote, aten::to_here): file or network access;
/// - graph/unknown-op (high): an operator outside the aten, prim and quantized namespaces
///   (custom operators: code the scan cannot see);
/// - graph/dynamic-call (high): a call that inlining cannot resolve (an interface method);
/// - graph/too-many-nodes (high): more than `node_limit` nodes in all; the walk stops there.
GraphCheck check_graphs(const torch::jit::Module& module, int64_t node_limit);

}  // namespace modelgate::engine::scan
