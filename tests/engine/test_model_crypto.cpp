// Models at rest (engine/model_crypto.h): key files, AES-256-GCM round trips, and every way a
// file can fail to decrypt. The CLI side (encrypt, decrypt, validate of an encrypted job entry)
// is tests/cli/test_encryption.py.
#include "engine/errors.h"
#include "engine/model_crypto.h"
#include "engine/model_keys.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

namespace fs = std::filesystem;
using namespace modelgate::engine;

namespace {

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_file(const fs::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << bytes;
}

unsigned mode_of(const fs::path& p) {
  struct stat st{};
  EXPECT_EQ(::stat(p.c_str(), &st), 0);
  return st.st_mode & 0777;
}

// The message of the InputError `f` throws ("" when it throws nothing).
template <typename F>
std::string input_error(F f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

class ModelCrypto : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("modelgate-crypto-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    id_a_ = generate_symmetric_key(dir_ / "a.key");
    generate_symmetric_key(dir_ / "b.key");
    for (int i = 0; i < 300; ++i) plaintext_ += static_cast<char>((i * 37 + 11) & 0xff);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
  std::string id_a_;
  std::string plaintext_;
};

}  // namespace

TEST_F(ModelCrypto, KeyFileIsOwnerOnlyNamesItsIdAndIsNeverReplaced) {
  EXPECT_EQ(mode_of(dir_ / "a.key"), 0600u);
  const auto key = read_symmetric_key(dir_ / "a.key");
  EXPECT_EQ(key.id(), id_a_);
  EXPECT_EQ(key.id().size(), 16u);
  EXPECT_EQ(symmetric_key_id(dir_ / "a.key"), id_a_);
  EXPECT_NE(read_symmetric_key(dir_ / "b.key").id(), id_a_);
  const auto before = read_file(dir_ / "a.key");
  EXPECT_NE(input_error([&] { generate_symmetric_key(dir_ / "a.key"); }).find("already exists"), std::string::npos);
  EXPECT_EQ(read_file(dir_ / "a.key"), before);
}

TEST_F(ModelCrypto, KeysReadableByGroupOrOthersAreRefused) {
  fs::permissions(dir_ / "a.key", fs::perms::group_read | fs::perms::others_read, fs::perm_options::add);
  const auto msg = input_error([&] { read_symmetric_key(dir_ / "a.key"); });
  EXPECT_NE(msg.find("mode 644"), std::string::npos) << msg;
  EXPECT_NE(msg.find((dir_ / "a.key").string()), std::string::npos) << msg;
  fs::permissions(dir_ / "a.key", fs::perms::owner_read);  // 0400 is stricter than 0600: fine
  EXPECT_EQ(read_symmetric_key(dir_ / "a.key").id(), id_a_);
}

TEST_F(ModelCrypto, ForeignOrDamagedKeyFilesAreRefused) {
  EXPECT_NE(input_error([&] { read_symmetric_key(dir_ / "missing.key"); }).find("not found"), std::string::npos);
  auto text = read_file(dir_ / "a.key");
  const auto write_key = [&](const std::string& name, const std::string& body) {
    write_file(dir_ / name, body);
    fs::permissions(dir_ / name, fs::perms::owner_read | fs::perms::owner_write, fs::perm_options::replace);
    return dir_ / name;
  };
  const auto pem = write_key("pem.key", "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEI\n-----END PRIVATE KEY-----\n");
  EXPECT_NE(input_error([&] { read_symmetric_key(pem); }).find("not a modelgate symmetric key"), std::string::npos);
  EXPECT_FALSE(symmetric_key_id(pem));
  auto wrong_id = text;
  wrong_id[wrong_id.find("\nid ") + 4] = wrong_id[wrong_id.find("\nid ") + 4] == '0' ? '1' : '0';
  EXPECT_NE(input_error([&] { read_symmetric_key(write_key("id.key", wrong_id)); }).find("corrupt key file"), std::string::npos);
  auto other_algorithm = text;
  other_algorithm.replace(other_algorithm.find("aes-256-gcm"), 11, "chacha20");
  EXPECT_NE(input_error([&] { read_symmetric_key(write_key("alg.key", other_algorithm)); }).find("chacha20"), std::string::npos);
}

TEST_F(ModelCrypto, RoundTripGivesTheSameBytesWithAFreshNonceEachTime) {
  const auto key = read_symmetric_key(dir_ / "a.key");
  const auto one = encrypt_model_bytes(plaintext_, key);
  const auto two = encrypt_model_bytes(plaintext_, key);
  EXPECT_EQ(one.size(), kEncryptedHeaderBytes + plaintext_.size() + kEncryptedTagBytes);
  EXPECT_NE(one, two);  // another nonce, so another ciphertext
  EXPECT_EQ(one.find(plaintext_.substr(0, 32)), std::string::npos);
  EXPECT_EQ(decrypt_model_bytes(one, key, "m.enc").view(), plaintext_);
  EXPECT_EQ(decrypt_model_bytes(two, key, "m.enc").view(), plaintext_);
  const auto h = parse_encrypted_header(one, "m.enc");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->version, 1);
  EXPECT_EQ(h->key_id, id_a_);
  EXPECT_EQ(h->plaintext_bytes, plaintext_.size());
  EXPECT_FALSE(parse_encrypted_header(plaintext_, "plain"));
  // An empty model encrypts and decrypts too (the tag alone authenticates the header).
  EXPECT_EQ(decrypt_model_bytes(encrypt_model_bytes("", key), key, "e").size(), 0u);
}

TEST_F(ModelCrypto, EveryFlippedByteOfHeaderBodyOrTagFails) {
  const auto key = read_symmetric_key(dir_ / "a.key");
  const auto sealed = encrypt_model_bytes(plaintext_, key);
  std::set<std::string> kinds;
  for (size_t i = 0; i < sealed.size(); ++i) {
    auto altered = sealed;
    altered[i] = static_cast<char>(altered[i] ^ 0x01);
    const auto msg = input_error([&] { decrypt_model_bytes(altered, key, "m.enc"); });
    ASSERT_FALSE(msg.empty()) << "byte " << i << " changed and the file still decrypted";
    ASSERT_EQ(msg.rfind("m.enc: ", 0), 0u) << msg;
    if (i >= kEncryptedHeaderBytes) {
      EXPECT_NE(msg.find("wrong key or the file was altered"), std::string::npos) << i << ": " << msg;
    }
    kinds.insert(msg.substr(0, 40));
  }
  EXPECT_GE(kinds.size(), 4u);  // magic, version, key id, length and tag each fail in their own words
}

TEST_F(ModelCrypto, WrongKeyAndTruncatedOrExtendedFilesFail) {
  const auto a = read_symmetric_key(dir_ / "a.key");
  const auto b = read_symmetric_key(dir_ / "b.key");
  const auto sealed = encrypt_model_bytes(plaintext_, a);
  auto msg = input_error([&] { decrypt_model_bytes(sealed, b, "m.enc"); });
  EXPECT_NE(msg.find(a.id()), std::string::npos) << msg;  // both ids are named
  EXPECT_NE(msg.find(b.id()), std::string::npos) << msg;
  // A key of the right id but other bytes cannot exist; a file whose key-id field was rewritten
  // to b's id still fails on the tag.
  auto relabelled = sealed;
  for (size_t i = 0; i < 8; ++i) relabelled[9 + i] = static_cast<char>(std::stoul(b.id().substr(2 * i, 2), nullptr, 16));
  msg = input_error([&] { decrypt_model_bytes(relabelled, b, "m.enc"); });
  EXPECT_NE(msg.find("wrong key or the file was altered"), std::string::npos) << msg;
  for (size_t cut : {size_t{1}, size_t{16}, size_t{17}, sealed.size() - kEncryptedHeaderBytes, sealed.size() - 9}) {
    msg = input_error([&] { decrypt_model_bytes(sealed.substr(0, sealed.size() - cut), a, "m.enc"); });
    EXPECT_NE(msg.find("cut short"), std::string::npos) << cut << ": " << msg;
  }
  msg = input_error([&] { decrypt_model_bytes(sealed + "x", a, "m.enc"); });
  EXPECT_NE(msg.find("more than its header says"), std::string::npos) << msg;
  msg = input_error([&] { decrypt_model_bytes(plaintext_, a, "m.pt"); });
  EXPECT_NE(msg.find("not an encrypted model"), std::string::npos) << msg;
  auto v2 = sealed;
  v2[8] = 2;
  msg = input_error([&] { decrypt_model_bytes(v2, a, "m.enc"); });
  EXPECT_NE(msg.find("format version 2"), std::string::npos) << msg;
}

TEST_F(ModelCrypto, FilesDecryptWithinTheirLimitAndAreNeverEncryptedTwice) {
  const auto key = read_symmetric_key(dir_ / "a.key");
  write_file(dir_ / "m.pt", plaintext_);
  encrypt_model_file(dir_ / "m.pt", key, dir_ / "m.enc");
  EXPECT_TRUE(is_encrypted_model(dir_ / "m.enc"));
  EXPECT_FALSE(is_encrypted_model(dir_ / "m.pt"));
  const auto d = decrypt_model_file(dir_ / "m.enc", key, 1 << 20);
  EXPECT_EQ(d.plaintext.view(), plaintext_);
  EXPECT_EQ(d.key_id, key.id());
  EXPECT_EQ(d.file_sha256.size(), 64u);
  auto msg = input_error([&] { decrypt_model_file(dir_ / "m.enc", key, plaintext_.size() - 1); });
  EXPECT_NE(msg.find("more than the scan limit"), std::string::npos) << msg;
  msg = input_error([&] { encrypt_model_file(dir_ / "m.enc", key, dir_ / "twice.enc"); });
  EXPECT_NE(msg.find("already an encrypted model"), std::string::npos) << msg;
  EXPECT_FALSE(fs::exists(dir_ / "twice.enc"));
  // A header promising far more than the file holds is refused before anything is allocated.
  auto huge = read_file(dir_ / "m.enc");
  for (size_t i = 0; i < 8; ++i) huge[29 + i] = static_cast<char>(0xff);
  write_file(dir_ / "huge.enc", huge);
  msg = input_error([&] { decrypt_model_file(dir_ / "huge.enc", key, UINT64_MAX); });
  EXPECT_NE(msg.find("cut short"), std::string::npos) << msg;
}

TEST_F(ModelCrypto, KeyFolderIsSearchedByIdSkippingOtherKeyFiles) {
  write_file(dir_ / "signing.key", "-----BEGIN PRIVATE KEY-----\n");
  size_t tried = 0;
  const auto found = find_key_file(dir_, id_a_, &tried);
  ASSERT_TRUE(found);
  EXPECT_EQ(*found, dir_ / "a.key");
  EXPECT_FALSE(find_key_file(dir_, "0000000000000000", &tried));
  EXPECT_EQ(tried, 2u);  // a.key and b.key; signing.key is not a modelgate key file
}
