#include "engine/scan/graph_check.h"

#include <fmt/format.h>
#include <torch/csrc/jit/passes/inliner.h>

#include <set>
#include <string_view>

namespace modelgate::engine::scan {
namespace {

constexpr std::string_view kForbidden[] = {
    "aten::save", "aten::from_file", "prim::rpc_async", "prim::rpc_sync", "prim::rpc_remote", "aten::to_here",
};
constexpr std::string_view kNamespaces[] = {"aten", "prim", "quantized"};

class Walker {
 public:
  Walker(GraphCheck& out, int64_t limit) : out_(out), limit_(limit) {}

  // False once the node limit is reached.
  bool walk(const torch::jit::Block* block, const std::string& method) {
    for (const auto* node : block->nodes()) {
      if (++out_.nodes > limit_) {
        out_.findings.push_back({"graph/too-many-nodes", Severity::high, method,
                                 fmt::format("more than {} graph nodes; the rest was not checked", limit_)});
        return false;
      }
      check(node, method);
      for (const auto* b : node->blocks())
        if (!walk(b, method)) return false;
    }
    return true;
  }

 private:
  void check(const torch::jit::Node* node, const std::string& method) {
    const std::string kind = node->kind().toQualString();
    if (!reported_.insert(kind + "@" + method).second) return;
    for (const auto f : kForbidden)
      if (kind == f) {
        out_.findings.push_back({"graph/forbidden-op", Severity::critical, method,
                                 fmt::format("calls {}: file or network access from model code", kind)});
        return;
      }
    if (kind == "prim::CallMethod" || kind == "prim::CallFunction") {
      out_.findings.push_back({"graph/dynamic-call", Severity::high, method,
                               fmt::format("{} that inlining cannot resolve (an interface or a function value): "
                                           "its target cannot be checked",
                                           kind)});
      return;
    }
    const auto ns = kind.substr(0, kind.find("::"));
    for (const auto n : kNamespaces)
      if (ns == n) return;
    out_.findings.push_back({"graph/unknown-op", Severity::high, method,
                             fmt::format("calls {}, an operator outside the aten, prim and quantized namespaces", kind)});
  }

  GraphCheck& out_;
  int64_t limit_;
  std::set<std::string> reported_;
};

}  // namespace

GraphCheck check_graphs(const torch::jit::Module& module, int64_t node_limit) {
  GraphCheck out;
  Walker walker(out, node_limit);
  for (const auto& sub : module.named_modules()) {
    for (const auto& method : sub.value.get_methods()) {
      const auto name = sub.name.empty() ? method.name() : sub.name + "." + method.name();
      auto graph = method.graph()->copy();
      torch::jit::Inline(*graph);
      ++out.methods;
      if (!walker.walk(graph->block(), name)) return out;
    }
  }
  return out;
}

}  // namespace modelgate::engine::scan
