// The dataset layer (engine/data, engine/dataset.h): NPY headers, CIFAR records, subsets and
// the value checks, on files written here.
#include "engine/data/npy.h"
#include "engine/dataset.h"
#include "engine/errors.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <algorithm>
#include <limits>
#include <unistd.h>

namespace me = modelgate::engine;
namespace fs = std::filesystem;

namespace {

class DatasetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("mg_dataset_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  void write(const fs::path& p, const std::string& bytes) { std::ofstream(p, std::ios::binary) << bytes; }
  std::string npy(const std::string& descr, const std::vector<int64_t>& shape, const void* data, size_t n) {
    return me::data::npy_header(descr, shape) + std::string(static_cast<const char*>(data), n);
  }
  fs::path dir_;
};

TEST_F(DatasetTest, NpyHeaderIsPaddedAndReadBack) {
  for (const std::vector<int64_t>& shape : {std::vector<int64_t>{5}, {3, 1, 8, 8}, {0}}) {
    const auto h = me::data::npy_header("<f4", shape);
    EXPECT_EQ(h.size() % 64, 0u);
    int64_t count = 1;
    for (auto d : shape) count *= d;
    const std::string record = h + std::string(static_cast<size_t>(4 * count), '\0');
    size_t pos = 0;
    const auto parsed = me::data::read_npy_header("x.npy", "x", [&](void* dst, uint64_t n) {
      if (pos + n > record.size()) return false;
      std::memcpy(dst, record.data() + pos, n);
      pos += n;
      return true;
    }, record.size());
    EXPECT_EQ(parsed.shape, shape);
    EXPECT_EQ(parsed.dtype, at::kFloat);
    EXPECT_EQ(parsed.data_offset, h.size());
  }
}

// A long header (NPY 2.0 allows 4 GiB; modelgate reads up to 1 MiB) is scanned, not matched
// with std::regex, whose recursion per character overflowed the stack (found by fuzz_npz).
TEST_F(DatasetTest, NpyHeaderOfAMegabyteIsReadAndItsErrorsNamed) {
  const auto record_of = [](const std::string& dict, size_t data_bytes) {
    std::string r = std::string("\x93NUMPY\x02\x00", 8);
    const auto len = static_cast<uint32_t>(dict.size());
    r.append(reinterpret_cast<const char*>(&len), 4);
    return r + dict + std::string(data_bytes, '\0');
  };
  const auto read = [](const std::string& record) {
    size_t pos = 0;
    return me::data::read_npy_header("x.npy", "x", [&](void* dst, uint64_t n) {
      if (pos + n > record.size()) return false;
      std::memcpy(dst, record.data() + pos, n);
      pos += n;
      return true;
    }, record.size());
  };
  const std::string blanks(400000, ' ');
  const auto h = read(record_of("{'descr':" + blanks + "'|u1', 'fortran_order': False, 'shape': (3," + blanks +
                                "4), }\n", 12));
  EXPECT_EQ(h.shape, (std::vector<int64_t>{3, 4}));
  EXPECT_EQ(h.dtype, at::kByte);
  const auto error_of = [&](const std::string& dict) {
    try {
      read(record_of(dict, 12));
    } catch (const me::InputError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(error_of("{'descr': '|u1', 'shape': (" + blanks + "\n").find("has no shape"), std::string::npos);
  EXPECT_NE(error_of("{'descr': '|u1" + blanks + "\n").find("has no dtype"), std::string::npos);
  EXPECT_NE(error_of("{'descr': '|u1', 'fortran_order':  True, 'shape': (12,), }").find("Fortran order"), std::string::npos);
}

TEST_F(DatasetTest, SampleIsDeterministicDistinctAndSorted) {
  const me::data::SampleSpec s{40, 11};
  const auto a = me::sample_indices(1000, s), b = me::sample_indices(1000, s);
  EXPECT_EQ(a, b);
  ASSERT_EQ(a.size(), 40u);
  EXPECT_TRUE(std::is_sorted(a.begin(), a.end()));
  EXPECT_EQ(std::set<int64_t>(a.begin(), a.end()).size(), a.size());
  EXPECT_GE(a.front(), 0);
  EXPECT_LT(a.back(), 1000);
  EXPECT_NE(a, me::sample_indices(1000, {40, 12}));
  EXPECT_EQ(me::sample_indices(10, {50, 0}).size(), 10u);  // more than there are: all of them
}

TEST_F(DatasetTest, CifarRecordsAndSubsets) {
  std::string bytes;
  for (int i = 0; i < 6; ++i) {
    bytes += static_cast<char>(i % 3);
    for (int k = 0; k < 3072; ++k) bytes += static_cast<char>((i * 7 + k) % 256);
  }
  write(dir_ / "b.bin", bytes);
  me::data::DatasetSpec spec;
  spec.path = dir_ / "b.bin";
  spec.limit = 5;
  spec.sample = me::data::SampleSpec{3, 1};
  const auto d = me::open_dataset(spec);
  ASSERT_EQ(d.size(), 3);
  EXPECT_EQ(d.file_samples(), 6);
  EXPECT_EQ(d.sample_shape(), (std::vector<int64_t>{3, 32, 32}));
  const auto x = d.inputs(0, 3), y = d.labels(0, 3);
  for (int64_t i = 0; i < 3; ++i) {
    const int64_t f = d.file_index(i);
    EXPECT_LT(f, 5);
    EXPECT_EQ(y[i].item<int64_t>(), f % 3);
    // pixel k of record f is (7f + k) mod 256: k = 1024 is the first green value
    EXPECT_FLOAT_EQ(x[i][1][0][0].item<float>(), static_cast<float>((f * 7 + 1024) % 256) / 255.0f);
  }
  write(dir_ / "b.bin", bytes.substr(1));
  EXPECT_THROW(me::open_dataset(spec), me::InputError);
}

TEST_F(DatasetTest, NonFiniteValuesAreRefusedWithTheSample) {
  std::vector<float> x(4 * 1 * 2 * 2, 0.5f);
  x[2 * 4 + 1] = std::numeric_limits<float>::quiet_NaN();
  const std::vector<int64_t> y{0, 1, 0, 1};
  write(dir_ / "inputs.npy", npy("<f4", {4, 1, 2, 2}, x.data(), x.size() * 4));
  write(dir_ / "labels.npy", npy("<i8", {4}, y.data(), y.size() * 8));
  try {
    me::load_dataset(dir_ / "inputs.npy");
    FAIL() << "NaN accepted";
  } catch (const me::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("sample 2 contains NaN"), std::string::npos) << e.what();
  }
  x[2 * 4 + 1] = 0.25f;
  write(dir_ / "inputs.npy", npy("<f4", {4, 1, 2, 2}, x.data(), x.size() * 4));
  const auto d = me::load_dataset(dir_ / "inputs.npy");
  EXPECT_EQ(d.size(), 4);
  EXPECT_EQ(d.max_label(), 1);
  EXPECT_FLOAT_EQ(d.inputs(2, 1)[0][0][0][1].item<float>(), 0.25f);
}

}  // namespace
