#include "fingerprint/capture.h"

#include <torch/csrc/jit/api/function_impl.h>
#include <torch/csrc/jit/ir/ir.h>
#include <torch/csrc/jit/passes/inliner.h>

#include <algorithm>
#include <map>
#include <set>
#include <stdexcept>

namespace modelgate::fingerprint {
namespace {

using torch::jit::Graph;
using torch::jit::Node;
using torch::jit::Value;

// A tapped module: the value it hands to the rest of forward(), and the node making it.
struct Tap {
  std::string path;
  Node* producer = nullptr;
  Value* value = nullptr;
  size_t order = 0;  // producer's position among the top-level nodes
};

std::shared_ptr<Graph> inlined_forward(const torch::jit::Module& module) {
  const auto method = module.find_method("forward");
  if (!method) throw std::invalid_argument("capture: the module has no forward() method");
  auto graph = method->graph()->copy();
  // Inlining records on every node the chain of module instances it came from; that chain is
  // the layer name. Graphs already inlined (frozen in this process) keep the chain they have.
  torch::jit::Inline(*graph);
  return graph;
}

// One level of the module path a node was inlined from: the instance name, and where that
// call was made (so two calls of one module are told apart even when nothing runs between them).
struct PathLevel {
  std::string name;
  std::string call_site;
};

// The module instances a node was inlined from, outermost first: {"layer1", "0", "conv1"}.
// "SELF" marks a method of the same module, and entries without an instance are plain
// functions (F.relu inside ReLU.forward): neither adds a level.
std::vector<PathLevel> module_path(const Node* node) {
  std::vector<PathLevel> levels;
  const auto callstack = node->callstack();
  if (!callstack) return levels;
  std::string site;
  for (const auto& entry : (*callstack)->vec()) {
    const auto& range = std::get<1>(entry);
    site += std::to_string(reinterpret_cast<uintptr_t>(range.source().get())) + ":" + std::to_string(range.start()) +
            "-" + std::to_string(range.end()) + "/";
    const auto& info = std::get<2>(entry);
    if (!info) continue;
    const std::string name = info->instance_name();
    if (name == "SELF" || name == "INSTANCE_NAME_UNKNOWN") continue;
    levels.push_back({name, site});
  }
  return levels;
}

// The top-level node that `user` belongs to (itself, or the if/loop holding it).
Node* top_level(Node* user, const torch::jit::Block* top) {
  while (user->owningBlock() != top) user = user->owningBlock()->owningNode();
  return user;
}

bool is_tensor(const Value* v) { return v->type()->isSubtypeOf(*c10::TensorType::get()); }

// Every capturable module path with its tap. A module's first call is the first contiguous run
// of top-level nodes inlined from it; its output is the last tensor made in that run and used
// outside it.
std::vector<Tap> find_taps(Graph& graph) {
  // Constants (which passes may hoist) and bookkeeping without a module path or a tensor result
  // (attribute reads, lists of ints, the training-flag checks of an inlined BatchNorm) belong to
  // no call and do not break one.
  std::vector<Node*> nodes;
  for (Node* node : graph.nodes()) {
    if (node->kind() == c10::prim::Constant) continue;
    if (!node->callstack() && std::none_of(node->outputs().begin(), node->outputs().end(), is_tensor)) continue;
    nodes.push_back(node);
  }
  struct Run {
    std::set<Node*> nodes;
    std::string call_site;
    size_t last = 0;
    bool closed = false;
  };
  std::map<std::string, Run> runs;
  std::vector<std::string> first_seen;
  for (size_t i = 0; i < nodes.size(); ++i) {
    std::string path;
    for (const PathLevel& level : module_path(nodes[i])) {
      path += (path.empty() ? "" : ".") + level.name;
      auto [it, inserted] = runs.try_emplace(path);
      Run& run = it->second;
      if (inserted) {
        first_seen.push_back(path);
        run.call_site = level.call_site;
      }
      if (run.closed) continue;
      if (!inserted && (run.last + 1 != i || run.call_site != level.call_site)) {
        run.closed = true;
        continue;
      }
      run.nodes.insert(nodes[i]);
      run.last = i;
    }
  }
  std::map<Node*, size_t> position;
  for (size_t i = 0; i < nodes.size(); ++i) position[nodes[i]] = i;

  std::vector<Tap> taps;
  for (const std::string& path : first_seen) {
    const Run& run = runs.at(path);
    Tap tap{path};
    for (Node* node : run.nodes) {
      for (Value* out : node->outputs()) {
        if (!is_tensor(out)) continue;
        const bool used_after = std::any_of(out->uses().begin(), out->uses().end(), [&](const torch::jit::Use& use) {
          return !run.nodes.count(top_level(use.user, graph.block()));
        });
        if (used_after && (!tap.producer || position[node] >= tap.order)) {
          tap.producer = node;
          tap.value = out;
          tap.order = position[node];
        }
      }
    }
    if (tap.producer) taps.push_back(tap);
  }
  // Call order; a module before the submodule whose output it hands on unchanged.
  std::stable_sort(taps.begin(), taps.end(), [](const Tap& a, const Tap& b) {
    if (a.order != b.order) return a.order < b.order;
    return std::count(a.path.begin(), a.path.end(), '.') < std::count(b.path.begin(), b.path.end(), '.');
  });
  return taps;
}

std::string joined(const std::vector<Tap>& taps) {
  std::string out;
  for (const Tap& tap : taps) out += (out.empty() ? "" : ", ") + tap.path;
  return out.empty() ? "none (a model frozen and saved to disk keeps no module paths)" : out;
}

}  // namespace

std::vector<std::string> capturable_layers(const torch::jit::Module& module) {
  const auto graph = inlined_forward(module);
  std::vector<std::string> names;
  for (const Tap& tap : find_taps(*graph)) names.push_back(tap.path);
  return names;
}

std::vector<std::string> top_level_layers(const std::vector<std::string>& capturable) {
  std::vector<std::string> names;
  for (const std::string& name : capturable) {
    if (name.find('.') == std::string::npos) names.push_back(name);
  }
  return names;
}

std::vector<std::string> default_layers(const torch::jit::Module& module) {
  return top_level_layers(capturable_layers(module));
}

Capture capture(const torch::jit::Module& module, const at::Tensor& input,
                const std::vector<std::string>& layers) {
  const auto graph = inlined_forward(module);
  if (graph->inputs().size() != 2) {
    throw std::invalid_argument("capture: forward() takes " + std::to_string(graph->inputs().size() - 1) +
                                " inputs, expected exactly one tensor");
  }
  TORCH_INTERNAL_ASSERT(graph->outputs().size() == 1, "forward graph with ",
                        graph->outputs().size(), " outputs");
  const std::vector<Tap> found = layers.empty() ? std::vector<Tap>{} : find_taps(*graph);
  std::map<std::string, const Tap*> by_name;
  for (const Tap& tap : found) by_name[tap.path] = &tap;

  std::vector<Value*> taps;
  for (const std::string& layer : layers) {
    const auto it = by_name.find(layer);
    if (it == by_name.end()) {
      throw std::invalid_argument("capture: layer '" + layer +
                                  "' is not a submodule that forward() calls and whose tensor output "
                                  "it uses (capturable: " + joined(found) + ")");
    }
    // The clone sits directly after the producer, before any later in-place op can reach it.
    torch::jit::WithInsertPoint guard(it->second->producer->next());
    taps.push_back(graph->insert(c10::aten::clone, {it->second->value}));
  }

  std::vector<Value*> outputs{graph->outputs()[0]};
  outputs.insert(outputs.end(), taps.begin(), taps.end());
  {
    torch::jit::WithInsertPoint guard(graph->return_node());
    Node* tuple = graph->insertNode(graph->createTuple(outputs));
    graph->eraseOutput(0);
    graph->registerOutput(tuple->output());
  }

  // SIMPLE runs the graph as written: no profiling runs and no fusers, whose reordered float
  // arithmetic would make fingerprints depend on the executor's warm-up state.
  torch::jit::GraphFunction function("modelgate_capture_forward", graph, nullptr,
                                     torch::jit::ExecutorExecutionMode::SIMPLE);
  torch::jit::Stack stack{module._ivalue(), input};
  function.run(stack);
  TORCH_INTERNAL_ASSERT(stack.size() == 1, "capture graph left ", stack.size(), " values");
  const auto& elements = stack.back().toTupleRef().elements();
  TORCH_INTERNAL_ASSERT(elements.size() == taps.size() + 1);

  if (!elements[0].isTensor()) {
    throw std::invalid_argument("capture: forward() returned " + elements[0].tagKind() +
                                ", expected a tensor");
  }
  Capture result;
  result.output = elements[0].toTensor();
  for (size_t i = 0; i < layers.size(); ++i) {
    result.layers.emplace_back(layers[i], elements[i + 1].toTensor());
  }
  return result;
}

}  // namespace modelgate::fingerprint
