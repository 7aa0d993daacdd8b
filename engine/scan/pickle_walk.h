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

/// Where a walk reads its bytes from, in order: a zip record being inflated, a file, a buffer.
/// The walk holds only a small window of it, never the whole pickle.
class ByteSource {
 public:
  virtual ~ByteSource() = default;
  /// Reads up to `n` bytes into `dst`; returns how many (0 at the end). Throws
  /// std::runtime_error when the underlying stream is corrupt.
  virtual size_t read(char* dst, size_t n) = 0;
};

/// A ByteSource over bytes in memory.
class BufferSource : public ByteSource {
 public:
  explicit BufferSource(std::string_view bytes) : bytes_(bytes) {}
  size_t read(char* dst, size_t n) override;

 private:
  std::string_view bytes_;
  size_t pos_ = 0;
};

/// Walks one pickle starting at `offset` in `bytes`, up to its STOP opcode.
PickleWalk walk_pickle(std::string_view bytes, uint64_t offset = 0);

/// Walks the pickles stored back to back in `source` (a legacy torch.save file holds several,
/// followed by raw storage bytes): continues while the next byte is a PROTO opcode. At most
/// `limit` bytes are read; `read` gets how many were.
std::vector<PickleWalk> walk_pickles(ByteSource& source, uint64_t limit, uint64_t* read = nullptr);
/// The same over bytes in memory.
std::vector<PickleWalk> walk_pickles(std::string_view bytes);

}  // namespace modelgate::engine::scan
