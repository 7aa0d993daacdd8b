#include "engine/scan/scan.h"

#include "engine/scan/code_check.h"
#include "engine/scan/globals.h"
#include "engine/scan/pickle_walk.h"
#include "engine/text_scan.h"

#include <fmt/format.h>
#include <zip.h>

#include <algorithm>
#include <fstream>
#include <memory>
#include <set>

namespace modelgate::engine::scan {
namespace fs = std::filesystem;
namespace {

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

}  // namespace

bool expected_record(const std::string& rest) {
  static const std::set<std::string_view> fixed = {
      "data.pkl",          "constants.pkl", "bytecode.pkl", "traced_inputs.pkl",      "version", "byteorder",
      ".format_version",   ".storage_alignment",            ".data/version",          ".data/serialization_id"};
  if (fixed.count(rest)) return true;
  for (std::string_view folder : {"data/", "constants/", "traced_inputs/"}) {
    TextCursor c{rest};
    if (c.lit(folder)) return all_digits(c.rest());
  }
  TextCursor c{rest};
  if (c.lit(".data/")) return c.digits() && c.lit(".storage") && c.end();
  if (c.lit("extra/")) return !c.end() && c.rest().find('/') == std::string_view::npos;
  if (!c.lit("code/")) return false;
  // code/([\w.]+/)*[\w.]+\.py(\.debug_pkl)?
  std::string_view path = c.rest();
  if (ends_with(path, ".debug_pkl")) path.remove_suffix(10);
  if (!ends_with(path, ".py")) return false;
  size_t start = 0;
  while (start <= path.size()) {
    const auto slash = std::min(path.find('/', start), path.size());
    TextCursor part{path.substr(start, slash - start)};
    if (!part.run([](char ch) { return is_word_char(ch) || ch == '.'; }) || !part.end()) return false;
    start = slash + 1;
  }
  // The last part is "<name>.py" with a non-empty name ([\w.]+ before the suffix).
  const auto last = path.substr(path.rfind('/') == std::string_view::npos ? 0 : path.rfind('/') + 1);
  return last.size() > 3;
}

namespace {

constexpr uint64_t kRatioFloor = 1ull << 20;  // small records compress well and harmlessly

std::string bytes_text(uint64_t n) {
  if (n >= (1ull << 30)) return fmt::format("{:.1f} GiB", static_cast<double>(n) / (1ull << 30));
  if (n >= (1ull << 20)) return fmt::format("{:.1f} MiB", static_cast<double>(n) / (1ull << 20));
  return fmt::format("{} bytes", n);
}

void add(ScanReport& r, std::string id, Severity s, std::string location, std::string message) {
  r.findings.push_back({std::move(id), s, std::move(location), std::move(message)});
}

// Turns what a pickle's walks name into findings.
void check_pickle(ScanReport& r, const std::vector<PickleWalk>& walks, const std::string& location) {
  std::set<std::string> seen(r.globals.begin(), r.globals.end());
  for (const auto& walk : walks) {
    ++r.pickles;
    for (const auto& g : walk.globals) {
      const auto q = g.qualified();
      if (seen.insert(q).second) r.globals.push_back(q);
      if (const auto v = classify_global(g.module, g.name)) {
        const bool critical = v->severity == Severity::critical;
        add(r, critical ? "pickle/dangerous-global" : "pickle/unknown-global", v->severity,
            fmt::format("{}@{}", location, g.offset), fmt::format("imports {}: {}", q, v->reason));
      }
    }
    if (!walk.extension_codes.empty())
      add(r, "pickle/extension-global", Severity::high, location,
          fmt::format("names {} global(s) through copyreg's extension registry, which a tensor archive never does",
                      walk.extension_codes.size()));
    if (walk.error) add(r, "pickle/malformed", Severity::high, location, "not a well-formed pickle: " + *walk.error);
  }
}

struct ZipCloser {
  void operator()(zip_t* z) const { zip_discard(z); }
};

// A zip record as it is inflated, for the pickle walk.
class ZipSource : public ByteSource {
 public:
  ZipSource(zip_t* z, zip_uint64_t index) : f_(zip_fopen_index(z, index, 0), zip_fclose) {
    if (!f_) throw std::runtime_error(zip_strerror(z));
  }
  size_t read(char* dst, size_t n) override {
    const auto got = zip_fread(f_.get(), dst, n);
    if (got < 0) throw std::runtime_error(zip_file_strerror(f_.get()));
    return static_cast<size_t>(got);
  }

 private:
  std::unique_ptr<zip_file_t, int (*)(zip_file_t*)> f_;
};

// Reads the rest of a record without keeping it, and checks that it held exactly what its
// directory entry says (libzip checks the CRC at the end). Empty when it did.
std::string drain(ByteSource& src, uint64_t already, uint64_t size) {
  uint64_t total = already;
  char buf[1 << 16];
  try {
    for (size_t n; (n = src.read(buf, sizeof buf)) > 0;) {
      total += n;
      if (total > size) return fmt::format("holds more than the {} bytes its directory entry says", size);
    }
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return total == size ? "" : fmt::format("holds {} bytes, its directory entry says {}", total, size);
}

// Reads one (small, bounded) record whole, checking it as drain() does.
std::optional<std::string> read_record(zip_t* z, zip_uint64_t index, uint64_t size, std::string& error) {
  try {
    ZipSource src(z, index);
    std::string data(size, '\0');
    uint64_t got = 0;
    while (got < size) {
      const auto n = src.read(data.data() + got, size - got);
      if (n == 0) break;
      got += n;
    }
    error = drain(src, got, size);
    if (!error.empty()) return std::nullopt;
    return data;
  } catch (const std::runtime_error& e) {
    error = e.what();
    return std::nullopt;
  }
}

// A file, for the pickle walk.
class IstreamSource : public ByteSource {
 public:
  explicit IstreamSource(std::istream& in) : in_(in) {}
  size_t read(char* dst, size_t n) override {
    in_.read(dst, static_cast<std::streamsize>(n));
    return static_cast<size_t>(in_.gcount());
  }

 private:
  std::istream& in_;
};


bool is_pickle_record(const std::string& rest) { return ends_with(rest, ".pkl") || ends_with(rest, ".debug_pkl"); }

void scan_archive(ScanReport& r, zip_t* z, const ScanLimits& limits) {
  const auto n = zip_get_num_entries(z, 0);
  r.records = static_cast<uint64_t>(n);
  if (r.records > limits.entries) {
    add(r, "archive/too-many-records", Severity::critical, r.path,
        fmt::format("{} records, more than the limit of {}", r.records, limits.entries));
    return;
  }
  std::set<std::string> names, prefixes;
  bool has_code = false, has_data_pkl = false;
  uint64_t code_bytes = 0;
  struct Pending {
    zip_uint64_t index;
    std::string name, rest;
    uint64_t size;
  };
  std::vector<Pending> to_read;
  for (zip_int64_t i = 0; i < n; ++i) {
    zip_stat_t st;
    zip_stat_init(&st);
    const char* raw = zip_get_name(z, static_cast<zip_uint64_t>(i), ZIP_FL_ENC_RAW);
    if (!raw || zip_stat_index(z, static_cast<zip_uint64_t>(i), ZIP_FL_ENC_RAW, &st) != 0) {
      add(r, "archive/corrupt", Severity::critical, fmt::format("{}#{}", r.path, i), "a record whose directory entry cannot be read");
      continue;
    }
    const std::string name(raw);
    const auto loc = name;
    if (!names.insert(name).second)
      add(r, "archive/duplicate-name", Severity::critical, loc, "two records share this name: readers disagree on which one counts");
    if (name.empty() || name.front() == '/' || name.find('\\') != std::string::npos ||
        (name.size() > 1 && name[1] == ':'))
      add(r, "archive/absolute-path", Severity::critical, loc, "an absolute or drive-qualified record name");
    if (name == ".." || name.rfind("../", 0) == 0 || name.find("/../") != std::string::npos ||
        (name.size() >= 3 && name.compare(name.size() - 3, 3, "/..") == 0))
      add(r, "archive/path-traversal", Severity::critical, loc, "a record name that climbs out of the archive (..)");
    if (st.encryption_method != ZIP_EM_NONE)
      add(r, "archive/encrypted-record", Severity::high, loc, "an encrypted record, which the TorchScript format never has");
    if (st.comp_method != ZIP_CM_STORE && st.comp_method != ZIP_CM_DEFLATE)
      add(r, "archive/unusual-compression", Severity::medium, loc,
          fmt::format("compression method {}, which torch never writes", st.comp_method));
    const uint64_t size = st.size;
    r.uncompressed_bytes += size;
    const auto before = r.findings.size();
    if (size > limits.entry_bytes)
      add(r, "archive/record-too-large", Severity::critical, loc,
          fmt::format("inflates to {}, more than the limit of {}", bytes_text(size), bytes_text(limits.entry_bytes)));
    if (size > kRatioFloor && static_cast<double>(size) > limits.compression_ratio * static_cast<double>(std::max<uint64_t>(st.comp_size, 1)))
      add(r, "archive/compression-ratio", Severity::critical, loc,
          fmt::format("{} compressed to {} (ratio {:.0f}, limit {:.0f}): a zip bomb", bytes_text(size),
                      bytes_text(st.comp_size), static_cast<double>(size) / static_cast<double>(std::max<uint64_t>(st.comp_size, 1)),
                      limits.compression_ratio));
    const auto slash = name.find('/');
    if (slash == std::string::npos || slash == 0) {
      add(r, "archive/unexpected-record", Severity::medium, loc, "a record outside the archive's top-level folder");
      continue;
    }
    prefixes.insert(name.substr(0, slash));
    const auto rest = name.substr(slash + 1);
    if (rest.empty() || rest.back() == '/') continue;  // a folder entry
    if (!expected_record(rest))
      add(r, "archive/unexpected-record", Severity::medium, loc, "a record the TorchScript and torch.save formats do not have");
    if (rest == "data.pkl") has_data_pkl = true;
    const bool code = rest.rfind("code/", 0) == 0 && ends_with(rest, ".py");
    if (code) {
      has_code = true;
      code_bytes += size;
    }
    // A record already found too large or too compressed is not inflated to look inside.
    const bool flagged = std::any_of(r.findings.begin() + static_cast<std::ptrdiff_t>(before), r.findings.end(),
                                     [](const ScanFinding& f) { return f.severity == Severity::critical; });
    if ((code || is_pickle_record(rest)) && !flagged) to_read.push_back({static_cast<zip_uint64_t>(i), name, rest, size});
  }
  if (prefixes.size() > 1)
    add(r, "archive/several-roots", Severity::medium, r.path,
        fmt::format("records under {} top-level folders; torch writes one", prefixes.size()));
  r.format = has_code ? FileFormat::torchscript : has_data_pkl ? FileFormat::torch_save : FileFormat::unknown;
  if (r.uncompressed_bytes > limits.total_bytes)
    add(r, "archive/too-large", Severity::critical, r.path,
        fmt::format("inflates to {} in all, more than the limit of {}", bytes_text(r.uncompressed_bytes), bytes_text(limits.total_bytes)));
  if (code_bytes > limits.code_bytes) {
    add(r, "code/too-large", Severity::critical, r.path,
        fmt::format("{} of TorchScript source, more than the limit of {}", bytes_text(code_bytes), bytes_text(limits.code_bytes)));
    return;
  }
  for (const auto& p : to_read) {
    const bool pickle = is_pickle_record(p.rest);
    if (p.size > (pickle ? limits.pickle_bytes : limits.code_bytes) || p.size > limits.entry_bytes) {
      add(r, pickle ? "pickle/too-large" : "code/too-large", Severity::critical, p.name,
          fmt::format("{} to read whole, more than the limit of {}: it cannot be checked", bytes_text(p.size),
                      bytes_text(limits.pickle_bytes)));
      continue;
    }
    std::string error;
    if (pickle) {
      // Streamed: the walk holds a small window of the record, never the whole of it.
      try {
        ZipSource src(z, p.index);
        uint64_t read = 0;
        check_pickle(r, walk_pickles(src, p.size, &read), p.name);
        error = drain(src, read, p.size);
      } catch (const std::runtime_error& e) {
        error = e.what();
      }
      if (!error.empty()) add(r, "archive/corrupt", Severity::critical, p.name, "cannot be read: " + error);
      continue;
    }
    const auto data = read_record(z, p.index, p.size, error);
    if (!data) {
      add(r, "archive/corrupt", Severity::critical, p.name, "cannot be read: " + error);
      continue;
    }
    for (auto& f : check_code(*data, p.name)) r.findings.push_back(std::move(f));
  }
}

}  // namespace

std::string to_string(FileFormat f) {
  switch (f) {
    case FileFormat::torchscript: return "TorchScript archive";
    case FileFormat::torch_save: return "torch.save archive";
    case FileFormat::pickle: return "pickle";
    case FileFormat::unknown: return "unknown";
  }
  return "unknown";
}

std::optional<Severity> worst_severity(const std::vector<ScanFinding>& findings) {
  std::optional<Severity> worst;
  for (const auto& f : findings)
    if (!worst || static_cast<int>(f.severity) < static_cast<int>(*worst)) worst = f.severity;
  return worst;
}

namespace {

void archive_unreadable(ScanReport& r, zip_error_t* e) {
  r.unreadable = fmt::format("not a readable zip archive ({})", zip_error_strerror(e));
}

// A legacy torch.save file or a plain pickle: the pickles come first, then raw storages.
// Protocols 2 and up start with PROTO; a text (protocol 0) pickle is one if it walks to STOP.
void scan_pickles(ScanReport& r, ByteSource& src, char first, uint64_t size, const std::string& name,
                  const ScanLimits& limits) {
  const auto walks = walk_pickles(src, limits.pickle_bytes);
  const bool proto = static_cast<unsigned char>(first) == 0x80;
  if (!proto && walks.front().error && walks.front().globals.empty()) {
    r.unreadable = "neither a zip archive (TorchScript, torch.save) nor a pickle";
    return;
  }
  r.format = FileFormat::pickle;
  check_pickle(r, walks, name);
  if (size > limits.pickle_bytes && !r.findings.empty() && r.findings.back().id == "pickle/malformed")
    r.findings.back().message += fmt::format(" (only the first {} were read)", bytes_text(limits.pickle_bytes));
}

}  // namespace

ScanReport scan_file(const fs::path& path, const ScanLimits& limits) {
  ScanReport r;
  r.path = path.string();
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) {
    r.unreadable = fs::exists(path, ec) ? "not a regular file" : "file not found";
    return r;
  }
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {0, 0, 0, 0};
  in.read(magic, 4);
  if (!in && in.gcount() == 0) {
    r.unreadable = fs::file_size(path, ec) == 0 ? "the file is empty" : "cannot be read";
    return r;
  }
  if (magic[0] == 'P' && magic[1] == 'K') {
    int err = 0;
    std::unique_ptr<zip_t, ZipCloser> z(zip_open(path.c_str(), ZIP_RDONLY, &err));
    if (!z) {
      zip_error_t e;
      zip_error_init_with_code(&e, err);
      archive_unreadable(r, &e);
      zip_error_fini(&e);
      return r;
    }
    scan_archive(r, z.get(), limits);
    return r;
  }
  in.clear();
  in.seekg(0);
  IstreamSource src(in);
  scan_pickles(r, src, magic[0], fs::file_size(path, ec), path.filename().string(), limits);
  return r;
}

ScanReport scan_bytes(std::string_view bytes, const std::string& name, const ScanLimits& limits) {
  ScanReport r;
  r.path = name;
  if (bytes.empty()) {
    r.unreadable = "the file is empty";
    return r;
  }
  if (bytes.size() >= 2 && bytes[0] == 'P' && bytes[1] == 'K') {
    zip_error_t e;
    zip_error_init(&e);
    // freep 0: libzip reads the caller's buffer in place and never frees or copies it.
    zip_source_t* src = zip_source_buffer_create(bytes.data(), bytes.size(), 0, &e);
    std::unique_ptr<zip_t, ZipCloser> z(src ? zip_open_from_source(src, ZIP_RDONLY, &e) : nullptr);
    if (!z) {
      if (src) zip_source_free(src);
      archive_unreadable(r, &e);
      zip_error_fini(&e);
      return r;
    }
    zip_error_fini(&e);
    scan_archive(r, z.get(), limits);
    return r;
  }
  BufferSource src(bytes);
  scan_pickles(r, src, bytes[0], bytes.size(), fs::path(name).filename().string(), limits);
  return r;
}

}  // namespace modelgate::engine::scan
