#pragma once
// A static walk over pickle opcodes (protocols 0 to 5): which globals a pickle would import,
// found without unpickling anything. The stack is modelled only far enough to know the
// strings STACK_GLOBAL takes its module and name from.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace modelgate::engine::scan {

/// A global a pickle refers to (GLOBAL, INST, STACK_GLOBAL), at the opcode's byte offset.
struct PickleGlobal {
  std::string module, name;
  uint64_t offset = 0;
  std::string qualified() const { return module + "." + name; }
};

/// What a walk found. `error` is set for a malformed pickle (unknown opcode, truncated
/// argument, stack underflow, a STACK_GLOBAL whose operands are not strings); the globals
/// found up to that point are still listed.
struct PickleWalk {
  std::vector<PickleGlobal> globals;
  std::vector<uint64_t> extension_codes;  ///< EXT1/EXT2/EXT4: globals named through copyreg's registry
  uint64_t opcodes = 0;
  uint64_t end = 0;  ///< offset just past STOP (or where the walk stopped)
  std::optional<std::string> error;
};

/// Walks one pickle starting at `offset` in `bytes`, up to its STOP opcode.
PickleWalk walk_pickle(std::string_view bytes, uint64_t offset = 0);

/// Walks the pickles stored back to back in `bytes` (a legacy torch.save file holds several,
/// followed by raw storage bytes): continues while the next byte is a PROTO opcode.
std::vector<PickleWalk> walk_pickles(std::string_view bytes);

}  // namespace modelgate::engine::scan
