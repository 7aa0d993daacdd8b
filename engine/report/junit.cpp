#include "engine/report/junit.h"

#include <fmt/format.h>
#include <pugixml.hpp>

#include <algorithm>
#include <sstream>

namespace modelgate::engine {
namespace {

// JUnit timestamps have no zone or fraction (the Jenkins schema's ISO8601_DATETIME_PATTERN).
std::string junit_timestamp(const std::string& iso) { return iso.substr(0, std::min<size_t>(iso.size(), 19)); }

struct Suite {
  pugi::xml_node node;
  int tests = 0, failures = 0, skipped = 0;
  double seconds = 0;
};

pugi::xml_node add_case(Suite& s, const std::string& classname, const std::string& name, double seconds) {
  auto c = s.node.append_child("testcase");
  c.append_attribute("name") = name.c_str();
  c.append_attribute("classname") = classname.c_str();
  c.append_attribute("time") = fmt::format("{:.6f}", seconds).c_str();
  ++s.tests;
  s.seconds += seconds;
  return c;
}

// A finding's effect on its testcase: review and block fail it, warn and pass are noted.
void attach(Suite& s, pugi::xml_node testcase, const Finding& f) {
  if (f.action == Action::review || f.action == Action::block) {
    auto fail = testcase.append_child("failure");
    fail.append_attribute("message") = f.message.c_str();
    fail.append_attribute("type") = fmt::format("{}/{}", to_string(f.severity), to_string(f.action)).c_str();
    fail.text() = fmt::format("{}: observed {:.6g}, threshold {:.6g} (severity {}, action {})", f.check, f.observed,
                              f.threshold, to_string(f.severity), to_string(f.action))
                      .c_str();
    ++s.failures;
  } else {
    testcase.append_child("system-out").text() =
        fmt::format("[{} → {}] {}: {}", to_string(f.severity), to_string(f.action), f.check, f.message).c_str();
  }
}

void model_suite(pugi::xml_node root, const JobResult& r, const ModelResult& m, int& tests, int& failures,
                 int& skipped, double& seconds) {
  Suite s{root.append_child("testsuite")};
  s.node.append_attribute("name") = m.name.c_str();
  s.node.append_attribute("timestamp") = junit_timestamp(r.started_at).c_str();
  auto props = s.node.append_child("properties");
  auto prop = [&](const char* name, const std::string& value) {
    auto p = props.append_child("property");
    p.append_attribute("name") = name;
    p.append_attribute("value") = value.c_str();
  };
  prop("path", m.path);
  prop("sha256", m.sha256);
  prop("device", r.device);
  prop("seed", std::to_string(r.seed));
  prop("dataset", r.dataset.path);

  std::vector<bool> used(m.findings.size(), false);
  // The findings of a check: matched by name and by the value they observed, so two checks
  // that share a name (same attack and ε, other steps) each keep their own.
  auto findings_of = [&](pugi::xml_node testcase, const std::string& check, double observed) {
    for (size_t i = 0; i < m.findings.size(); ++i)
      if (!used[i] && m.findings[i].check == check && m.findings[i].observed == observed) {
        attach(s, testcase, m.findings[i]);
        used[i] = true;
      }
  };
  const std::string base = "modelgate." + m.name;
  const bool clean_skipped =
      std::any_of(m.skipped.begin(), m.skipped.end(), [](const SkippedCheck& k) { return k.section == "clean"; });
  if (m.clean.total == 0 && !clean_skipped) {  // 0 of 0 and not skipped: there were no clean samples
    add_case(s, base + ".clean", "clean accuracy", 0).append_child("skipped").append_attribute("message") =
        "no clean samples (a corrupted-npy dataset without spec.dataset.clean)";
    ++s.skipped;
  } else {
    auto clean = add_case(s, base + ".clean", "clean accuracy", 0);
    clean.append_child("system-out").text() =
        fmt::format("accuracy {:.4f} ({}/{})", m.clean.accuracy(), m.clean.correct, m.clean.total).c_str();
  }
  for (const auto& a : m.attacks) {
    auto c = add_case(s, base + ".adversarial", a.plan.description(), a.seconds);
    findings_of(c, a.plan.check(), a.robust.accuracy());
  }
  for (const auto& o : m.corruptions) {
    auto c = add_case(s, base + ".robustness", o.plan.description(), o.seconds);
    findings_of(c, o.plan.check(), o.score.accuracy());
  }
  if (m.fingerprint) {
    auto c = add_case(s, base + ".fingerprint", "fingerprint", 0);
    c.append_child("system-out").text() =
        fmt::format("root {} arch {}", m.fingerprint->root_sha256, m.fingerprint->arch_sha256).c_str();
  } else {
    add_case(s, base + ".fingerprint", "fingerprint", 0).append_child("skipped").append_attribute("message") =
        "no fingerprint was taken";
    ++s.skipped;
  }
  for (const auto& k : m.skipped) {
    auto c = add_case(s, base + "." + k.section, k.description, 0);
    c.append_child("skipped").append_attribute("message") = k.reason.c_str();
    ++s.skipped;
  }
  for (size_t i = 0; i < m.findings.size(); ++i)
    if (!used[i]) attach(s, add_case(s, base + ".findings", m.findings[i].check, 0), m.findings[i]);
  for (const auto& man : r.manifests)
    if (!man.handled) {
      auto c = add_case(s, base + ".manifests", fmt::format("{} '{}'", man.kind, man.name), 0);
      c.append_child("skipped").append_attribute("message") = "this manifest kind is not handled by modelgate";
      ++s.skipped;
    }
  s.node.append_attribute("tests") = s.tests;
  s.node.append_attribute("failures") = s.failures;
  s.node.append_attribute("errors") = 0;
  s.node.append_attribute("skipped") = s.skipped;
  s.node.append_attribute("time") = fmt::format("{:.6f}", s.seconds).c_str();
  tests += s.tests;
  failures += s.failures;
  skipped += s.skipped;
  seconds += s.seconds;
}

}  // namespace

std::string junit_xml(const JobResult& r) {
  pugi::xml_document doc;
  auto decl = doc.append_child(pugi::node_declaration);
  decl.append_attribute("version") = "1.0";
  decl.append_attribute("encoding") = "UTF-8";
  auto root = doc.append_child("testsuites");
  root.append_attribute("name") = fmt::format("modelgate {}", r.job_name).c_str();
  int tests = 0, failures = 0, skipped = 0;
  double seconds = 0;
  for (const auto& m : r.models) model_suite(root, r, m, tests, failures, skipped, seconds);
  if (!r.job_findings.empty()) {  // findings of the job as a whole: a suite of their own
    Suite js{root.append_child("testsuite")};
    js.node.append_attribute("name") = "job";
    js.node.append_attribute("timestamp") = junit_timestamp(r.started_at).c_str();
    for (const auto& f : r.job_findings) attach(js, add_case(js, "modelgate.job", f.check, 0), f);
    js.node.append_attribute("tests") = js.tests;
    js.node.append_attribute("failures") = js.failures;
    js.node.append_attribute("errors") = 0;
    js.node.append_attribute("skipped") = 0;
    js.node.append_attribute("time") = "0";
    tests += js.tests;
    failures += js.failures;
  }
  root.append_attribute("tests") = tests;
  root.append_attribute("failures") = failures;
  root.append_attribute("errors") = 0;
  root.append_attribute("skipped") = skipped;
  root.append_attribute("time") = fmt::format("{:.6f}", r.run_seconds()).c_str();
  std::ostringstream out;
  doc.save(out, "  ", pugi::format_default, pugi::encoding_utf8);
  return out.str();
}

}  // namespace modelgate::engine
