#pragma once
// YAML documents from an untrusted file, guarded against yaml-cpp 0.7's parser loops.
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <vector>

namespace modelgate::engine {

/// The most documents a job file may hold (a job and its manifests are a handful).
inline constexpr size_t kMaxYamlDocuments = 1000;

/// YAML::LoadAllFromFile, but a stream on which yaml-cpp's parser stops consuming input is a
/// syntax error instead of a loop that fills the memory: yaml-cpp 0.7 (Debian's) returns an
/// endless run of empty documents for a stray ',' where a document should start (found
/// by tests/fuzz; fixed upstream after 0.8 by yaml-cpp PR 1319). The stream is parsed once
/// without building nodes to check that every document starts further on than the one before
/// and that there are at most kMaxYamlDocuments, then loaded. Throws YAML::ParserException
/// (with the mark of the stuck token) or any other YAML::Exception LoadAll throws.
std::vector<YAML::Node> load_yaml_documents(const std::filesystem::path& file);

}  // namespace modelgate::engine
