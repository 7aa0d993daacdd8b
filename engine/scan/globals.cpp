#include "engine/scan/globals.h"

#include <array>
#include <string_view>

namespace modelgate::engine::scan {
namespace {

bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

// A module or any of its submodules.
bool in_module(std::string_view module, std::string_view root) {
  return module == root || (starts_with(module, root) && module.size() > root.size() && module[root.size()] == '.');
}

// What torch.save, torch.jit.save and numpy arrays inside state dicts need, and no more. The
// torch._utils rebuilders only rebuild tensors from storages; the jit._pickle helpers build
// lists and restore type tags.
constexpr std::string_view kAllowed[] = {
    "collections.OrderedDict",
    "torch._utils._rebuild_tensor",
    "torch._utils._rebuild_tensor_v2",
    "torch._utils._rebuild_tensor_v3",
    "torch._utils._rebuild_parameter",
    "torch._utils._rebuild_parameter_with_state",
    "torch._utils._rebuild_qtensor",
    "torch._utils._rebuild_sparse_tensor",
    "torch._utils._rebuild_nested_tensor",
    "torch._utils._rebuild_meta_tensor_no_storage",
    "torch._utils._rebuild_wrapper_subclass",
    "torch._tensor._rebuild_from_type_v2",
    "torch.nn.parameter.Parameter",
    "torch.Size",
    "torch.device",
    "torch.per_tensor_affine",
    "torch.per_channel_affine",
    "torch.per_tensor_symmetric",
    "torch.per_channel_symmetric",
    "torch.jit._pickle.build_intlist",
    "torch.jit._pickle.build_tensorlist",
    "torch.jit._pickle.build_doublelist",
    "torch.jit._pickle.build_boollist",
    "torch.jit._pickle.build_tensor_from_id",
    "torch.jit._pickle.restore_type_tag",
    "numpy.core.multiarray._reconstruct",
    "numpy.ndarray",
    "numpy.dtype",
};

// Modules whose globals run code, open files, start processes or reach the network.
constexpr std::string_view kCriticalModules[] = {
    "os", "posix", "nt", "subprocess", "sys", "socket", "shutil", "runpy", "pty", "commands",
    "pickle", "_pickle", "cPickle", "dill", "marshal", "shelve", "webbrowser", "httplib", "http",
    "urllib", "urllib2", "requests", "aiohttp", "ftplib", "smtplib", "telnetlib", "ctypes",
    "importlib", "code", "codeop", "asyncio", "multiprocessing", "signal", "tempfile", "pdb",
    "bdb", "timeit", "venv", "site", "_io",
};

// Single globals that do the same from otherwise harmless modules.
constexpr std::string_view kCriticalGlobals[] = {
    "builtins.eval", "builtins.exec", "builtins.execfile", "builtins.compile", "builtins.open",
    "builtins.__import__", "builtins.getattr", "builtins.setattr", "builtins.delattr",
    "builtins.globals", "builtins.locals", "builtins.vars", "builtins.breakpoint", "builtins.input",
    "builtins.apply", "io.open", "io.FileIO", "operator.attrgetter", "operator.methodcaller",
    "operator.itemgetter", "types.FunctionType", "types.CodeType", "functools.partial",
    "torch.load", "torch.storage._load_from_bytes", "numpy.load", "numpy.testing._private.utils.runstring",
};

}  // namespace

std::optional<GlobalVerdict> classify_global(const std::string& module, const std::string& name) {
  // Python 2 pickles spell builtins "__builtin__".
  const std::string mod = module == "__builtin__" ? "builtins" : module;
  const std::string qualified = mod + "." + name;
  for (const auto a : kAllowed)
    if (qualified == a) return std::nullopt;
  // TorchScript's own types: the TorchScript unpickler resolves them in the archive's code,
  // never by importing Python.
  if (in_module(mod, "__torch__")) return std::nullopt;
  // Storage classes (torch.FloatStorage, torch.QInt8Storage, torch.UntypedStorage, ...) and dtypes.
  if (mod == "torch" && name.size() > 7 && name.compare(name.size() - 7, 7, "Storage") == 0 &&
      name.find('.') == std::string::npos)
    return std::nullopt;
  for (const auto g : kCriticalGlobals)
    if (qualified == g) return GlobalVerdict{Severity::critical, "runs code, opens files or unpickles more data"};
  for (const auto m : kCriticalModules)
    if (in_module(mod, m)) return GlobalVerdict{Severity::critical, "module '" + std::string(m) + "' runs commands, touches files or the network"};
  if (in_module(mod, "builtins"))
    return GlobalVerdict{Severity::high, "a Python builtin that a tensor archive does not need"};
  return GlobalVerdict{Severity::high, "not a global a tensor archive needs"};
}

}  // namespace modelgate::engine::scan
