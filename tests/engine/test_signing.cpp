#include "engine/errors.h"
#include "engine/signing.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>

namespace fs = std::filesystem;
using namespace modelgate::engine;

namespace {

class Signing : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("modelgate-sign-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    generate_keypair(dir_ / "a");
    generate_keypair(dir_ / "b");
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
  nlohmann::json doc_ = {{"rootSha256", "ab"}, {"layers", {1, 2, 3}}, {"name", "digits"}};
};

}  // namespace

TEST_F(Signing, PrivateKeyIsWrittenOwnerOnlyAndNotReplaced) {
  struct stat st{};
  ASSERT_EQ(::stat((dir_ / "a.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_THROW(generate_keypair(dir_ / "a"), InputError);
}

TEST_F(Signing, SignedDocumentVerifiesWhateverTheKeyOrder) {
  auto signed_doc = doc_;
  signed_doc["signature"] = signature_for(doc_, dir_ / "a.key");
  EXPECT_NO_THROW(verify_document(signed_doc, dir_ / "a.pub", "fp.json"));
  // Re-serialised with another key order (ordered_json keeps insertion order): still valid.
  nlohmann::ordered_json reordered;
  reordered["name"] = signed_doc["name"];
  reordered["signature"] = signed_doc["signature"];
  reordered["layers"] = signed_doc["layers"];
  reordered["rootSha256"] = signed_doc["rootSha256"];
  EXPECT_NO_THROW(verify_document(nlohmann::json::parse(reordered.dump()), dir_ / "a.pub", "fp.json"));
}

TEST_F(Signing, TamperedUnsignedOrForeignDocumentsAreRefused) {
  auto signed_doc = doc_;
  signed_doc["signature"] = signature_for(doc_, dir_ / "a.key");
  auto tampered = signed_doc;
  tampered["layers"][1] = 5;
  try {
    verify_document(tampered, dir_ / "a.pub", "fp.json");
    FAIL() << "tampered document verified";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("altered"), std::string::npos) << e.what();
  }
  EXPECT_THROW(verify_document(doc_, dir_ / "a.pub", "fp.json"), InputError);         // unsigned
  EXPECT_THROW(verify_document(signed_doc, dir_ / "b.pub", "fp.json"), InputError);   // other key
  auto forged = signed_doc;
  forged["signature"]["value"] = signature_for(doc_, dir_ / "b.key")["value"];         // b's signature, a's key id
  EXPECT_THROW(verify_document(forged, dir_ / "a.pub", "fp.json"), InputError);
}

TEST_F(Signing, KeysReadableByOthersOrOfTheWrongKindAreRefused) {
  fs::permissions(dir_ / "a.key", fs::perms::group_read, fs::perm_options::add);
  try {
    check_signing_key(dir_ / "a.key");
    FAIL() << "group-readable key accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("chmod 600"), std::string::npos) << e.what();
  }
  EXPECT_THROW(check_signing_key(dir_ / "a.pub"), InputError);  // a public key is no private key
  EXPECT_THROW(check_signing_key(dir_ / "missing.key"), InputError);
}
