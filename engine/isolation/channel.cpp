#include "engine/isolation/channel.h"

#include "engine/json_depth.h"

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <ctime>
#include <stdexcept>
#include <utility>

#include <poll.h>
#include <pthread.h>
#include <unistd.h>

namespace modelgate::engine::isolation {
namespace {

[[noreturn]] void fail(const std::string& what) { throw std::runtime_error("channel: " + what); }

// Blocks SIGPIPE on this thread for one send; a SIGPIPE the send raised is taken off the thread
// before the old mask returns, unless one was already pending for someone else's reasons.
class SigpipeGuard {
 public:
  SigpipeGuard() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    sigset_t pending;
    sigemptyset(&pending);
    pthread_sigmask(SIG_BLOCK, &pipe_, &old_);
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
  }
  ~SigpipeGuard() {
    if (raised_ && !was_pending_) {
      const timespec zero{0, 0};
      while (sigtimedwait(&pipe_, nullptr, &zero) < 0 && errno == EINTR) {
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  void raised() { raised_ = true; }

 private:
  sigset_t pipe_, old_;
  bool was_pending_ = false, raised_ = false;
};

void write_all(int fd, const unsigned char* data, size_t size, SigpipeGuard& guard) {
  while (size > 0) {
    const ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EPIPE) {
        guard.raised();
        fail("the other side has closed its end (EPIPE)");
      }
      fail(std::string("write failed: ") + std::strerror(errno));
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
}

}  // namespace

Channel::Channel(int read_fd, int write_fd, uint64_t max_frame_bytes)
    : read_fd_(read_fd), write_fd_(write_fd), max_frame_bytes_(max_frame_bytes) {}

Channel::~Channel() { close_fds(); }

Channel::Channel(Channel&& other) noexcept
    : read_fd_(std::exchange(other.read_fd_, -1)),
      write_fd_(std::exchange(other.write_fd_, -1)),
      max_frame_bytes_(other.max_frame_bytes_),
      eof_(other.eof_),
      broken_(std::move(other.broken_)),
      header_got_(other.header_got_),
      body_(std::move(other.body_)),
      body_size_(other.body_size_),
      body_got_(other.body_got_) {
  std::memcpy(header_, other.header_, sizeof(header_));
}

Channel& Channel::operator=(Channel&& other) noexcept {
  if (this != &other) {
    close_fds();
    read_fd_ = std::exchange(other.read_fd_, -1);
    write_fd_ = std::exchange(other.write_fd_, -1);
    max_frame_bytes_ = other.max_frame_bytes_;
    eof_ = other.eof_;
    broken_ = std::move(other.broken_);
    std::memcpy(header_, other.header_, sizeof(header_));
    header_got_ = other.header_got_;
    body_ = std::move(other.body_);
    body_size_ = other.body_size_;
    body_got_ = other.body_got_;
  }
  return *this;
}

void Channel::close_fds() {
  if (read_fd_ >= 0) ::close(read_fd_);
  if (write_fd_ >= 0) ::close(write_fd_);
  read_fd_ = write_fd_ = -1;
}

void Channel::send(const nlohmann::json& message) {
  if (write_fd_ < 0) fail("this channel has no write end");
  const std::string text = message.dump();
  unsigned char header[8];
  uint64_t size = text.size();
  for (int i = 0; i < 8; ++i, size >>= 8) header[i] = static_cast<unsigned char>(size & 0xff);
  SigpipeGuard guard;
  write_all(write_fd_, header, sizeof(header), guard);
  write_all(write_fd_, reinterpret_cast<const unsigned char*>(text.data()), text.size(), guard);
}

std::optional<nlohmann::json> Channel::receive() {
  nlohmann::json message;
  if (receive_within(-1, message) == Status::eof) return std::nullopt;
  return message;
}

Channel::Status Channel::receive_within(int timeout_ms, nlohmann::json& message) {
  if (!broken_.empty()) throw std::runtime_error(broken_);
  try {
    return read_frame(timeout_ms, message);
  } catch (const std::runtime_error& e) {
    // A frame parsed but not JSON leaves the stream in step; anything else does not.
    if (header_got_ != 0 || eof_) broken_ = e.what();
    throw;
  }
}

Channel::Status Channel::read_frame(int timeout_ms, nlohmann::json& message) {
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms < 0 ? 0 : timeout_ms);
  if (read_fd_ < 0) fail("this channel has no read end");
  for (;;) {
    if (header_got_ == sizeof(header_) && body_got_ == body_size_) {
      const std::string text = std::move(body_);
      body_.clear();
      header_got_ = 0;
      body_size_ = body_got_ = 0;
      if (engine::json_too_deep(text))
        fail("a frame of " + std::to_string(text.size()) + " bytes nests deeper than " + std::to_string(engine::kMaxJsonDepth) + " levels");
      try {
        message = nlohmann::json::parse(text);
      } catch (const nlohmann::json::parse_error& e) {
        fail("a frame of " + std::to_string(text.size()) + " bytes is not JSON: " + e.what());
      }
      return Status::frame;
    }
    if (eof_) {
      if (header_got_ == 0) return Status::eof;
      fail("frame cut off by end of stream");
    }
    int wait_ms = -1;
    if (timeout_ms >= 0) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      wait_ms = left > 0 ? static_cast<int>(left) : 0;
    }
    pollfd pfd{read_fd_, POLLIN, 0};
    const int ready = ::poll(&pfd, 1, wait_ms);
    if (ready < 0) {
      if (errno == EINTR) continue;
      fail(std::string("poll failed: ") + std::strerror(errno));
    }
    if (ready == 0) return Status::timed_out;

    const bool in_header = header_got_ < sizeof(header_);
    unsigned char* dest = in_header ? header_ + header_got_ : reinterpret_cast<unsigned char*>(&body_[body_got_]);
    const size_t want = in_header ? sizeof(header_) - header_got_ : static_cast<size_t>(body_size_ - body_got_);
    const ssize_t n = ::read(read_fd_, dest, want);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      fail(std::string("read failed: ") + std::strerror(errno));
    }
    if (n == 0) {
      eof_ = true;
      if (header_got_ > 0 && header_got_ < sizeof(header_))
        fail("frame cut off after " + std::to_string(header_got_) + " of 8 header bytes");
      if (header_got_ == sizeof(header_))
        fail("frame cut off after " + std::to_string(body_got_) + " of " + std::to_string(body_size_) + " bytes");
      continue;
    }
    if (!in_header) {
      body_got_ += static_cast<uint64_t>(n);
      continue;
    }
    header_got_ += static_cast<size_t>(n);
    if (header_got_ < sizeof(header_)) continue;
    uint64_t size = 0;
    for (int i = 7; i >= 0; --i) size = (size << 8) | header_[i];
    if (size > max_frame_bytes_) {
      fail("a frame claims " + std::to_string(size) + " bytes, above the limit of " +
           std::to_string(max_frame_bytes_));
    }
    body_size_ = size;
    body_got_ = 0;
    body_.assign(static_cast<size_t>(size), '\0');
  }
}

}  // namespace modelgate::engine::isolation
