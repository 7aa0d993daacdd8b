#include "fingerprint/capture.h"

#include <torch/csrc/jit/api/function_impl.h>
#include <torch/csrc/jit/ir/ir.h>

#include <map>
#include <set>
#include <stdexcept>

namespace modelgate::fingerprint {
namespace {

using torch::jit::Graph;
using torch::jit::Node;
using torch::jit::Value;

std::shared_ptr<Graph> forward_graph(const torch::jit::Module& module) {
  const auto method = module.find_method("forward");
  if (!method) throw std::invalid_argument("capture: the module has no forward() method");
  return method->graph();
}

// First top-level `self.<child>.forward(...)` call per child, in call order. Calls nested in
// if/loop blocks are skipped: their outputs are scoped to the block and may not run at all.
std::vector<std::pair<std::string, Node*>> child_calls(Graph& graph, const torch::jit::Module& module) {
  std::set<std::string> children;
  for (const auto& child : module.named_children()) children.insert(child.name);
  Value* self = graph.inputs().at(0);
  std::vector<std::pair<std::string, Node*>> calls;
  std::set<std::string> seen;
  for (Node* node : graph.nodes()) {
    if (node->kind() != c10::prim::CallMethod || node->s(c10::attr::name) != "forward") continue;
    Node* source = node->input(0)->node();
    if (source->kind() != c10::prim::GetAttr || source->input(0) != self) continue;
    const std::string name = source->s(c10::attr::name);
    if (!children.count(name) || !seen.insert(name).second) continue;
    if (node->outputs().size() != 1 || !node->output()->type()->isSubtypeOf(*c10::TensorType::get())) {
      continue;
    }
    calls.emplace_back(name, node);
  }
  return calls;
}

std::string joined(const std::vector<std::pair<std::string, Node*>>& calls) {
  std::string out;
  for (const auto& [name, node] : calls) out += (out.empty() ? "" : ", ") + name;
  return out.empty() ? "none" : out;
}

}  // namespace

std::vector<std::string> capturable_layers(const torch::jit::Module& module) {
  const auto graph = forward_graph(module);
  std::vector<std::string> names;
  for (const auto& [name, node] : child_calls(*graph, module)) names.push_back(name);
  return names;
}

Capture capture(const torch::jit::Module& module, const at::Tensor& input,
                const std::vector<std::string>& layers) {
  const auto graph = forward_graph(module)->copy();
  if (graph->inputs().size() != 2) {
    throw std::invalid_argument("capture: forward() takes " + std::to_string(graph->inputs().size() - 1) +
                                " inputs, expected exactly one tensor");
  }
  TORCH_INTERNAL_ASSERT(graph->outputs().size() == 1, "forward graph with ",
                        graph->outputs().size(), " outputs");
  const auto calls = child_calls(*graph, module);
  const std::map<std::string, Node*> by_name(calls.begin(), calls.end());

  std::vector<Value*> taps;
  for (const std::string& layer : layers) {
    const auto it = by_name.find(layer);
    if (it == by_name.end()) {
      throw std::invalid_argument("capture: layer '" + layer +
                                  "' is not a top-level submodule that forward() calls and that "
                                  "returns a tensor (capturable: " + joined(calls) + ")");
    }
    // The clone sits directly after the call, before any later in-place op can reach the value.
    torch::jit::WithInsertPoint guard(it->second->next());
    taps.push_back(graph->insert(c10::aten::clone, {it->second->output()}));
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
