#include "fingerprint/hashing.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace modelgate::fingerprint {
namespace {

TEST(Sha256, KnownVectors) {
  EXPECT_EQ(sha256_hex("", 0), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc", 3), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(FileSha256, MatchesBytesAndNamesBadPaths) {
  const auto path = std::filesystem::temp_directory_path() / "modelgate_fp_hash_test.bin";
  {
    std::ofstream out(path, std::ios::binary);
    out << "abc";
  }
  EXPECT_EQ(file_sha256(path.string()), sha256_hex("abc", 3));
  std::filesystem::remove(path);

  try {
    file_sha256(path.string());
    FAIL() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find(path.string()), std::string::npos) << e.what();
  }
  EXPECT_THROW(file_sha256(std::filesystem::temp_directory_path().string()), std::invalid_argument);
}

TEST(TensorSha256, FormatIsHeaderThenBytes) {
  const at::Tensor t = at::arange(6, at::kFloat).reshape({2, 3});
  std::string bytes = "float32[2,3]\n";
  bytes.append(static_cast<const char*>(t.data_ptr()), t.nbytes());
  EXPECT_EQ(tensor_sha256(t), sha256_hex(bytes.data(), bytes.size()));

  const at::Tensor scalar = at::scalar_tensor(int64_t{5}, at::kLong);
  std::string scalar_bytes = "int64[]\n";
  scalar_bytes.append(static_cast<const char*>(scalar.data_ptr()), scalar.nbytes());
  EXPECT_EQ(tensor_sha256(scalar), sha256_hex(scalar_bytes.data(), scalar_bytes.size()));
}

TEST(TensorSha256, StableAndSensitiveToOneElement) {
  const at::Tensor t = at::randn({4, 5});
  const std::string digest = tensor_sha256(t);
  EXPECT_EQ(tensor_sha256(t), digest);
  EXPECT_EQ(tensor_sha256(t.clone()), digest);

  at::Tensor changed = t.clone();
  changed[2][3] += 1e-6;
  EXPECT_NE(tensor_sha256(changed), digest);
}

TEST(TensorSha256, SensitiveToShapeAndDtypeNotToLayoutInMemory) {
  const at::Tensor t = at::arange(6, at::kInt);
  EXPECT_NE(tensor_sha256(t.reshape({2, 3})), tensor_sha256(t.reshape({3, 2})));
  // Same four bytes per element reinterpreted: only the header tells them apart.
  EXPECT_NE(tensor_sha256(t), tensor_sha256(t.view(at::kFloat)));

  const at::Tensor m = at::randn({3, 4});
  const at::Tensor transposed = m.t();
  ASSERT_FALSE(transposed.is_contiguous());
  EXPECT_EQ(tensor_sha256(transposed), tensor_sha256(transposed.contiguous()));
}

TEST(TensorSha256, ConjugateViewHashesItsValues) {
  const at::Tensor z = at::randn({3}, at::kComplexFloat);
  EXPECT_EQ(tensor_sha256(z.conj()), tensor_sha256(z.conj().resolve_conj()));
  EXPECT_NE(tensor_sha256(z.conj()), tensor_sha256(z));
}

TEST(TensorSha256, RejectsTensorsWithoutDenseData) {
  EXPECT_THROW(tensor_sha256(at::Tensor()), std::invalid_argument);
  EXPECT_THROW(tensor_sha256(at::eye(3).to_sparse()), std::invalid_argument);
  EXPECT_THROW(tensor_sha256(at::empty({2}, at::TensorOptions().device(at::kMeta))), std::invalid_argument);
}

TEST(RootSha256, IndependentOfInsertionOrderAndSensitiveToEachDigest) {
  const std::string a = sha256_hex("a", 1), b = sha256_hex("b", 1);
  std::map<std::string, std::string> forward, backward;
  forward["layer.weight"] = a;
  forward["layer.bias"] = b;
  backward["layer.bias"] = b;
  backward["layer.weight"] = a;
  EXPECT_EQ(root_sha256(forward), root_sha256(backward));

  const std::string lines = "layer.bias:" + b + "\nlayer.weight:" + a + "\n";
  EXPECT_EQ(root_sha256(forward), sha256_hex(lines.data(), lines.size()));

  backward["layer.bias"] = a;
  EXPECT_NE(root_sha256(forward), root_sha256(backward));
}

}  // namespace
}  // namespace modelgate::fingerprint
