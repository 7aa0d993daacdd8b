#include "engine/yaml_load.h"

#include <yaml-cpp/eventhandler.h>

#include <fstream>
#include <sstream>
#include <string>

namespace modelgate::engine {
namespace {

// Counts documents and remembers where the latest one started; builds nothing.
struct DocumentStarts : YAML::EventHandler {
  size_t documents = 0;
  YAML::Mark start = YAML::Mark::null_mark();
  void OnDocumentStart(const YAML::Mark& mark) override {
    ++documents;
    start = mark;
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t, const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
};

}  // namespace

std::vector<YAML::Node> load_yaml_documents(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw YAML::BadFile(file.string());
  std::stringstream read;
  read << in.rdbuf();
  const std::string text = read.str();
  {
    std::istringstream stream(text);
    YAML::Parser parser(stream);
    DocumentStarts seen;
    int previous = -1;
    while (parser.HandleNextDocument(seen)) {
      if (seen.start.pos <= previous)
        throw YAML::ParserException(seen.start, "unexpected character where a document should start");
      if (seen.documents > kMaxYamlDocuments)
        throw YAML::ParserException(seen.start, "more than " + std::to_string(kMaxYamlDocuments) + " documents");
      previous = seen.start.pos;
    }
  }
  return YAML::LoadAll(text);
}

}  // namespace modelgate::engine
