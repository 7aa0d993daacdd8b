// The framed channel, in one process over real pipes, and the JSON forms of Policy and Applied.
#include "engine/isolation/channel.h"
#include "engine/isolation/policy.h"

#include <csignal>
#include <cstring>
#include <string>
#include <thread>

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

namespace modelgate::engine::isolation {
namespace {

using nlohmann::json;

// Two pipes: `a` writes what `b` reads and the other way round.
struct Pair {
  Pair() {
    int ab[2], ba[2];
    EXPECT_EQ(::pipe2(ab, O_CLOEXEC), 0);
    EXPECT_EQ(::pipe2(ba, O_CLOEXEC), 0);
    a = Channel(ba[0], ab[1]);
    b = Channel(ab[0], ba[1]);
  }
  Channel a{-1, -1}, b{-1, -1};
};

// A raw pipe: the test writes bytes, the channel reads them.
struct RawPipe {
  RawPipe() {
    int fds[2];
    EXPECT_EQ(::pipe2(fds, O_CLOEXEC), 0);
    writer = fds[1];
    reader = Channel(fds[0], -1);
  }
  ~RawPipe() { close_writer(); }
  void write(const void* data, size_t n) { ASSERT_EQ(::write(writer, data, n), static_cast<ssize_t>(n)); }
  void header(uint64_t size) {
    unsigned char h[8];
    for (int i = 0; i < 8; ++i) h[i] = static_cast<unsigned char>(size >> (8 * i));
    write(h, 8);
  }
  void close_writer() {
    if (writer >= 0) ::close(writer);
    writer = -1;
  }
  int writer = -1;
  Channel reader{-1, -1};
};

TEST(Channel, CarriesMessagesBothWays) {
  Pair p;
  p.a.send({{"hello", 1}});
  p.b.send({{"back", "two"}});
  EXPECT_EQ(p.b.receive(), json({{"hello", 1}}));
  EXPECT_EQ(p.a.receive(), json({{"back", "two"}}));
}

TEST(Channel, FrameIsLittleEndianLengthThenJson) {
  RawPipe r;
  const std::string text = R"({"x":[1,2]})";
  r.header(text.size());
  r.write(text.data(), text.size());
  EXPECT_EQ(r.reader.receive(), json({{"x", {1, 2}}}));
}

TEST(Channel, CleanEofBeforeAFrameIsNullopt) {
  RawPipe r;
  r.close_writer();
  EXPECT_EQ(r.reader.receive(), std::nullopt);
  EXPECT_TRUE(r.reader.at_eof());
}

TEST(Channel, HugeHeaderIsRefusedWithoutAllocating) {
  RawPipe r;
  r.header(1ull << 40);  // 1 TiB: allocating it would be bad_alloc, not runtime_error
  r.write("{}", 2);
  try {
    r.reader.receive();
    FAIL() << "a 1 TiB frame was accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("1099511627776 bytes, above the limit"), std::string::npos) << e.what();
  }
  EXPECT_THROW(r.reader.receive(), std::runtime_error) << "the stream has lost its framing";
}

TEST(Channel, LimitIsConfigurable) {
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  Channel writer(-1, fds[1]), reader(fds[0], -1, 16);
  writer.send({{"short", 1}});
  EXPECT_TRUE(reader.receive().has_value());
  writer.send({{"much longer than sixteen", 1}});
  EXPECT_THROW(reader.receive(), std::runtime_error);
}

TEST(Channel, TornHeaderThrows) {
  RawPipe r;
  r.write("\x05\x00\x00", 3);
  r.close_writer();
  EXPECT_THROW(r.reader.receive(), std::runtime_error);
}

TEST(Channel, TornBodyThrows) {
  RawPipe r;
  r.header(100);
  r.write("{\"ok\":", 6);
  r.close_writer();
  EXPECT_THROW(r.reader.receive(), std::runtime_error);
}

TEST(Channel, AFrameNestedTooDeeplyIsRefusedBeforeParsing) {
  // 20 000 levels fit in a pipe's buffer; a parser or a copy that recursed would need the
  // stack for each of them.
  std::string deep = std::string(20000, '[') + std::string(20000, ']');
  RawPipe r;
  std::thread writer([&] {
    r.header(deep.size());
    r.write(deep.data(), deep.size());
    r.header(2);
    r.write("[]", 2);
  });
  EXPECT_THROW(r.reader.receive(), std::runtime_error);
  EXPECT_EQ(r.reader.receive(), json::array());
  writer.join();
}

TEST(Channel, BadJsonThrowsButStreamStaysInStep) {
  RawPipe r;
  r.header(3);
  r.write("{{{", 3);
  r.header(2);
  r.write("[]", 2);
  EXPECT_THROW(r.reader.receive(), std::runtime_error);
  EXPECT_EQ(r.reader.receive(), json::array());
}

TEST(Channel, ReceiveWithinKeepsAPartialFrame) {
  RawPipe r;
  json message;
  EXPECT_EQ(r.reader.receive_within(50, message), Channel::Status::timed_out);
  r.header(7);
  r.write("[1,", 3);
  EXPECT_EQ(r.reader.receive_within(50, message), Channel::Status::timed_out);
  r.write("2,3]", 4);
  ASSERT_EQ(r.reader.receive_within(50, message), Channel::Status::frame);
  EXPECT_EQ(message, json({1, 2, 3}));
}

TEST(Channel, BigFrameRoundTrips) {
  Pair p;
  const std::string big(8 << 20, 'z');  // far above the 64 KiB a pipe holds
  std::thread sender([&] { p.a.send({{"big", big}}); });
  const auto got = p.b.receive();
  sender.join();
  ASSERT_TRUE(got);
  EXPECT_EQ(got->at("big").get<std::string>().size(), big.size());
}

TEST(Channel, SendToAClosedReaderThrowsAndSigpipeDoesNotKill) {
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  ::close(fds[0]);
  Channel writer(-1, fds[1]);
  // SIGPIPE's default action would end this test process here.
  EXPECT_THROW(writer.send({{"x", 1}}), std::runtime_error);
  sigset_t pending;
  sigpending(&pending);
  EXPECT_FALSE(sigismember(&pending, SIGPIPE)) << "the SIGPIPE was left pending";
}

TEST(Policy, JsonRoundTrip) {
  Policy p;
  p.read_paths = {"/models/a.pt", "/data"};
  p.device_paths = {"/dev/nvidia0"};
  p.memory_bytes = 1ull << 33;
  p.cpu_seconds = 2.5;
  p.allow_writes = true;
  const Policy q = Policy::from_json(p.to_json());
  EXPECT_EQ(q.read_paths, p.read_paths);
  EXPECT_EQ(q.device_paths, p.device_paths);
  EXPECT_EQ(q.memory_bytes, p.memory_bytes);
  EXPECT_EQ(q.cpu_seconds, p.cpu_seconds);
  EXPECT_TRUE(q.allow_writes);
  const Policy empty = Policy::from_json(json::object());
  EXPECT_FALSE(empty.memory_bytes || empty.cpu_seconds || empty.allow_writes);
}

TEST(Policy, BadFieldsAreNamed) {
  try {
    Policy::from_json({{"memory_bytes", -5}});
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("policy.memory_bytes"), std::string::npos) << e.what();
  }
  EXPECT_THROW(Policy::from_json({{"read_paths", "/not/an/array"}}), std::runtime_error);
  EXPECT_THROW(Policy::from_json({{"cpu_seconds", 0}}), std::runtime_error);
}

TEST(Applied, JsonRoundTrip) {
  Applied a{"Landlock ABI 7: x", "seccomp: y", "no memory limit", "no CPU-time limit", true, false, 2};
  const Applied b = Applied::from_json(a.to_json());
  EXPECT_EQ(b.to_json(), a.to_json());
  EXPECT_THROW(Applied::from_json({{"landlock", "x"}}), std::runtime_error);
}

TEST(Probe, AgreesWithProcStatus) {
  const KernelSupport k = probe();
  EXPECT_GE(k.landlock_abi, 0);
  EXPECT_EQ(k.landlock_abi == 0, !k.landlock_reason.empty());
  FILE* status = std::fopen("/proc/self/status", "r");
  char line[256];
  bool has_seccomp_line = false;
  while (std::fgets(line, sizeof(line), status))
    if (std::strncmp(line, "Seccomp:", 8) == 0) has_seccomp_line = true;
  std::fclose(status);
  EXPECT_EQ(k.seccomp, has_seccomp_line);
}

}  // namespace
}  // namespace modelgate::engine::isolation
