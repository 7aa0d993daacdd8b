// isolation_test_worker: a stand-in for `modelgate worker`. It reads one request on fd 3,
//   {"policy": {...} | null, "action": "...", "arg": ..., "pool": bool}
// confines itself with the policy (null: not at all, the control case), replies
// {"applied": ...}, then does the action and replies {"ok": bool, "errno": n, "error": "EPERM", ...}.
// With "pool", a thread is started before confine() and the action runs on it; with
// "pool_blocks_signals" that thread blocks every signal, as glibc's timer threads do.
#include "engine/isolation/confine.h"
#include "engine/isolation/worker.h"

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <new>
#include <thread>

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

namespace iso = modelgate::engine::isolation;
using nlohmann::json;

namespace {

std::atomic<int> g_signal{0};  // set by the SIGTERM handler of "wait-sigterm"

json result(bool ok, int e = 0) {
  json r{{"ok", ok}, {"errno", ok ? 0 : e}};
  if (!ok) r["error"] = strerrorname_np(e) ? strerrorname_np(e) : "unknown";
  return r;
}

json syscall_result(long rc) { return rc >= 0 ? result(true) : result(false, errno); }

// One thread started before confine(), running jobs handed to it afterwards.
class PoolThread {
 public:
  explicit PoolThread(bool block_signals) : block_signals_(block_signals), thread_([this] { loop(); }) {
    std::unique_lock<std::mutex> lock(mutex_);
    cv_.wait(lock, [this] { return ready_; });
  }
  ~PoolThread() {
    run({});
    thread_.join();
  }
  json run(std::function<json()> job) {
    std::unique_lock<std::mutex> lock(mutex_);
    job_ = std::move(job);
    stop_ = !job_;
    has_job_ = true;
    cv_.notify_all();
    cv_.wait(lock, [this] { return !has_job_; });
    return result_;
  }

 private:
  void loop() {
    if (block_signals_) {
      sigset_t all;
      sigfillset(&all);
      pthread_sigmask(SIG_BLOCK, &all, nullptr);
    }
    std::unique_lock<std::mutex> lock(mutex_);
    ready_ = true;
    cv_.notify_all();
    for (;;) {
      cv_.wait(lock, [this] { return has_job_; });
      if (!stop_) result_ = job_();
      has_job_ = false;
      cv_.notify_all();
      if (stop_) return;
    }
  }
  std::mutex mutex_;
  std::condition_variable cv_;
  std::function<json()> job_;
  json result_;
  bool block_signals_, ready_ = false, has_job_ = false, stop_ = false;
  std::thread thread_;
};

json read_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return result(false, errno);
  char buf[256];
  const ssize_t n = ::read(fd, buf, sizeof(buf));
  ::close(fd);
  json r = syscall_result(n);
  if (n >= 0) r["content"] = std::string(buf, static_cast<size_t>(n));
  return r;
}

// malloc rather than new: under AddressSanitizer a failed new aborts the process, a failed
// malloc returns null as it does elsewhere (scripts/sanitize.sh sets allocator_may_return_null).
json allocate(uint64_t bytes) {
  std::unique_ptr<char, decltype(&std::free)> block(static_cast<char*>(std::malloc(bytes)), &std::free);
  if (!block) return result(false, ENOMEM);
  for (uint64_t i = 0; i < bytes; i += 4096) block.get()[i] = static_cast<char>(i);  // make it resident
  volatile char sink = block.get()[bytes / 2];
  (void)sink;
  return result(true);
}

// A real SIGSEGV. The sanitisers would report the store and exit with a status: UBSan's check
// is compiled out here and ASan's SIGSEGV handler is replaced by the default action. The store
// is volatile, or the optimiser drops a store through a null pointer.
__attribute__((noinline, no_sanitize("address", "undefined"))) void crash() {
  std::signal(SIGSEGV, SIG_DFL);
  volatile int* volatile nowhere = nullptr;
  *nowhere = 1;
}

json do_action(const std::string& action, const json& arg, iso::Channel& channel) {
  const std::string path = arg.is_string() ? arg.get<std::string>() : "";
  if (action == "write-file") {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) return result(false, errno);
    json r = syscall_result(::write(fd, "x", 1));
    ::close(fd);
    return r;
  }
  if (action == "create-file") {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0) ::close(fd);
    return syscall_result(fd);
  }
  if (action == "open-rdwr") {
    const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd >= 0) ::close(fd);
    return syscall_result(fd);
  }
  if (action == "read-file") return read_file(path);
  if (action == "rename") return syscall_result(::rename(path.c_str(), (path + ".renamed").c_str()));
  if (action == "unlink") return syscall_result(::unlink(path.c_str()));
  if (action == "socket-inet") {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0) ::close(fd);
    return syscall_result(fd);
  }
  if (action == "socket-unix-connect") {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return result(false, errno);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path.c_str());
    json r = syscall_result(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)));
    ::close(fd);
    return r;
  }
  if (action == "fork") {
    const pid_t pid = ::fork();
    if (pid == 0) ::_exit(0);
    if (pid > 0) ::waitpid(pid, nullptr, 0);
    return syscall_result(pid);
  }
  if (action == "exec") {
    char* const argv[] = {const_cast<char*>("/bin/true"), nullptr};
    ::execv(argv[0], argv);
    return result(false, errno);
  }
  if (action == "spawn-thread") {
    try {
      long sum = 0;
      std::thread([&sum] { for (long i = 1; i <= 1000; ++i) sum += i; }).join();
      json r = result(true);
      r["value"] = sum;
      return r;
    } catch (const std::system_error& e) {
      return result(false, e.code().value());
    }
  }
  if (action == "kill-parent") return syscall_result(::kill(::getppid(), 0));
  if (action == "allocate") return allocate(arg.get<uint64_t>());
  if (action == "spin-cpu")
    for (volatile uint64_t i = 0;; i = i + 1) {
    }
  if (action == "sleep-forever")
    for (;;) ::pause();
  if (action == "crash") crash();
  if (action == "print-stdout") {
    std::printf("%s\n", path.c_str());
    std::fflush(stdout);
    return result(true);
  }
  if (action == "abort") std::abort();
  if (action == "limits") {
    // Setting a limit to what it already is: refused only when limits are locked.
    rlimit core{}, files{};
    ::getrlimit(RLIMIT_CORE, &core);
    ::getrlimit(RLIMIT_NOFILE, &files);
    json r = syscall_result(::setrlimit(RLIMIT_NOFILE, &files));
    r["core"] = core.rlim_cur == RLIM_INFINITY ? -1 : static_cast<long long>(core.rlim_cur);
    return r;
  }
  if (action == "echo") return json{{"ok", true}, {"echo", arg}};
  if (action == "exit") std::exit(arg.get<int>());
  if (action == "list-fds") {
    json fds = json::array();
    for (int fd = 0; fd < 1024; ++fd)
      if (::fcntl(fd, F_GETFD) >= 0) fds.push_back(fd);
    return json{{"ok", true}, {"fds", fds}};
  }
  if (action == "wait-sigterm") {
    std::signal(SIGTERM, [](int sig) { g_signal = sig; });
    channel.send({{"ready", true}});
    while (g_signal == 0) ::usleep(10 * 1000);
    return json{{"ok", true}, {"got", g_signal.load()}};
  }
  if (action == "burst") {
    for (int i = 0; i < arg.get<int>(); ++i) channel.send({{"n", i}});
    std::exit(0);
  }
  if (action == "torn-frame" || action == "huge-frame") {
    // A frame header the channel must not trust: cut off, or claiming 1 TiB.
    const uint64_t size = action == "torn-frame" ? 100 : (1ull << 40);
    unsigned char header[8];
    for (int i = 0; i < 8; ++i) header[i] = static_cast<unsigned char>(size >> (8 * i));
    [[maybe_unused]] ssize_t n = ::write(4, header, sizeof(header));
    n = ::write(4, "{\"ok\":", 6);
    if (action == "torn-frame") std::exit(0);
    for (;;) ::pause();
  }
  return json{{"ok", false}, {"error", "unknown action " + action}};
}

}  // namespace

int main() {
  iso::Channel channel = iso::child_channel();
  const auto request = channel.receive();
  if (!request) return 2;
  const std::string action = request->value("action", "");
  const json arg = request->value("arg", json());
  std::unique_ptr<PoolThread> pool;
  const bool blocked = request->value("pool_blocks_signals", false);
  if (request->value("pool", false) || blocked) pool = std::make_unique<PoolThread>(blocked);

  if (request->contains("policy") && !request->at("policy").is_null()) {
    try {
      channel.send({{"applied", iso::confine(iso::Policy::from_json(request->at("policy"))).to_json()}});
    } catch (const std::exception& e) {
      channel.send({{"confine_error", e.what()}});
      return 3;
    }
  } else {
    channel.send({{"applied", nullptr}});
  }
  const json reply = pool ? pool->run([&] { return do_action(action, arg, channel); }) : do_action(action, arg, channel);
  channel.send(reply);
  return 0;
}
