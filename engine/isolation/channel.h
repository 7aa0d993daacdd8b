#pragma once
// The one narrow channel between the trusted parent and the model worker: JSON messages in
// length-prefixed frames over a pair of pipes. The worker is untrusted, so the parent treats
// every frame as hostile input: its length is checked before anything is allocated.
#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace modelgate::engine::isolation {

/// Length-prefixed frames over pipes: 8-byte little-endian length, then that many bytes (JSON text).
/// Frames above max_frame_bytes (default 1 GiB) are refused with std::runtime_error, never allocated.
/// Owns both file descriptors and closes them when destroyed. Not thread-safe.
class Channel {
 public:
  /// How receive_within() ended.
  enum class Status { frame, eof, timed_out };

  /// Takes ownership of `read_fd` and `write_fd` (either may be -1 for a one-way channel).
  Channel(int read_fd, int write_fd, uint64_t max_frame_bytes = 1ull << 30);
  ~Channel();
  Channel(Channel&& other) noexcept;
  Channel& operator=(Channel&& other) noexcept;
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;

  /// Writes one frame, whole. Throws std::runtime_error when the reader has gone (EPIPE) or the
  /// write fails. SIGPIPE is blocked on the calling thread during the write and a SIGPIPE it
  /// raised is discarded, so neither side needs to ignore SIGPIPE process-wide.
  void send(const nlohmann::json& message);
  /// Blocking; nullopt at a clean EOF before a frame; throws on a torn frame or bad JSON.
  std::optional<nlohmann::json> receive();
  /// Like receive(), but waits at most `timeout_ms` (0: only what is already there; negative:
  /// no limit). A frame still incomplete at the deadline is kept for the next call.
  Status receive_within(int timeout_ms, nlohmann::json& message);

  /// The descriptor frames are read from (for poll()).
  int read_fd() const { return read_fd_; }
  /// True once the writer closed its end.
  bool at_eof() const { return eof_; }

 private:
  Status read_frame(int timeout_ms, nlohmann::json& message);
  void close_fds();

  int read_fd_ = -1, write_fd_ = -1;
  uint64_t max_frame_bytes_;
  bool eof_ = false;
  std::string broken_;  // why the stream lost its framing; later reads throw it again
  unsigned char header_[8] = {};
  size_t header_got_ = 0;
  std::string body_;
  uint64_t body_size_ = 0, body_got_ = 0;
};

}  // namespace modelgate::engine::isolation
