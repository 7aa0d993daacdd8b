#include "engine/cli.h"

#include "engine/commands.h"
#include "engine/environment.h"
#include "engine/errors.h"
#include "engine/model_host.h"
#include "engine/signals.h"

#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <memory>
#include <optional>

namespace modelgate::engine {
namespace {

// Progress on stderr. On a terminal, long evaluations get a live bar with an ETA, redrawn in
// place; elsewhere (cron mail, CI logs) a plain line every 5 seconds.
Progress terminal_progress() {
  struct State {
    bool tty = ::isatty(STDERR_FILENO) != 0;
    bool bar_shown = false;
    double last = -1;
  };
  auto st = std::make_shared<State>();
  Progress p;
  p.line = [st](const std::string& text) {
    if (st->bar_shown) fmt::print(stderr, "\r\033[K");
    st->bar_shown = false;
    fmt::print(stderr, "{}\n", text);
  };
  p.tick = [st](const std::string& what, int64_t done, int64_t total, double seconds) {
    if (done >= total) {
      if (st->bar_shown) fmt::print(stderr, "\r\033[K");
      st->bar_shown = false;
      st->last = -1;
      return;
    }
    const double eta = seconds / static_cast<double>(done) * static_cast<double>(total - done);
    if (st->tty) {
      if (seconds < 1 || seconds - st->last < 0.1) return;
      constexpr int kWidth = 24;
      const int filled = static_cast<int>(kWidth * done / total);
      fmt::print(stderr, "\r\033[K  {} [{}{}] {:3d}%  batch {}/{}  {:.0f}s, about {:.0f}s left", what,
                 std::string(static_cast<size_t>(filled), '#'), std::string(static_cast<size_t>(kWidth - filled), '-'),
                 static_cast<int>(100 * done / total), done, total, seconds, eta);
      st->bar_shown = true;
    } else {
      if (st->last < 0) st->last = 0;
      if (seconds - st->last < 5) return;
      fmt::print(stderr, "  … {}: batch {}/{}, about {:.0f}s left\n", what, done, total, eta);
    }
    st->last = seconds;
  };
  return p;
}

}  // namespace

int run_cli(int argc, char** argv) {
  CLI::App app{"modelgate: validates TorchScript models before they ship.\n"
               "Runs FGSM/PGD/APGD attacks, noise/blur sweeps and activation fingerprints, writes a JSON\n"
               "report (and JUnit XML, a Prometheus textfile, an HTML page), and exits with a code a\n"
               "scheduler or CI gate can act on.",
               "modelgate"};
  app.require_subcommand(0, 1);
  app.set_version_flag("--version", [] { return version_text(); }, "Print the versions of modelgate, LibTorch and CUDA/cuDNN");
  bool quiet = false;
  app.add_flag("-q,--quiet", quiet, "Print no progress lines on stderr");
  app.footer(
      "Exit codes of validate: 0 pass, 1 review, 2 block, 3 invalid input or config (nothing\n"
      "evaluated), 4 failure during the run. compare: 0 identical/equivalent, 1 derived,\n"
      "2 unrelated, 3 invalid input. Run 'modelgate SUBCOMMAND --help' for details.");

  ValidateArgs va;
  auto* validate = app.add_subcommand("validate", "Run every manifest of a job file and write the reports");
  validate->add_option("job", va.job, "Job file: multi-document YAML (ValidationJob + seed manifests)")
      ->required();
  validate->add_option("--report", va.report, "Write the JSON report to this path instead of a timestamped file in spec.reports.location\n"
                       "(formats the job lists in spec.reports.format go beside it, same stem)");
  validate->add_option("--junit", va.junit, "Also write JUnit XML (one testsuite per model) to this path");
  validate->add_option("--prometheus", va.prometheus, "Also write a Prometheus textfile (node_exporter's textfile collector) to this path");
  validate->add_option("--html", va.html, "Also write the self-contained HTML report to this path");
  validate->add_option("--device", va.device, "auto (GPU if usable, else CPU), cpu or cuda; overrides spec.device")
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}));
  validate->add_option("--seed", va.seed, "Seed for noise and PGD random starts; overrides spec.seed");
  validate->add_option("--records", va.records, "Write per-sample attack records (JSON Lines) to this file");
  validate->add_option("--baseline", va.baseline,
                       "Report to compare with: auto (the newest earlier complete passing report of the job in its\n"
                       "report folder), none, or a path; overrides spec.baseline.report (default auto)");
  validate->add_option("--budget", va.budget,
                       "Time budget of the whole job, e.g. 90m or 2h: when it runs out the run stops at the next\n"
                       "batch, the rest is reported as skipped and the report is marked incomplete");
  validate->add_flag("--run-past-estimate", va.run_past_estimate,
                     "Run even when the work estimated before the run (passes x the pace measured on each model)\n"
                     "is over 4 times a time limit; the limit then stops the run part way, as usual");
  validate->add_option("--sign", va.sign, "Sign the report with this Ed25519 private key (from 'modelgate keygen')");
  std::optional<int> threads;  // applied once below, before any work: no other place sets it
  validate->add_option("--threads", threads,
                       "CPU threads for LibTorch's intra-op pool and modelgate's CPU kernels (at::set_num_threads);\n"
                       "default: LibTorch's own choice (OMP_NUM_THREADS, else one per core)")
      ->check(CLI::Range(1, 1024));
  validate->footer("Each model is scanned before it is loaded (see 'modelgate scan --help'); one the scan blocks is\n"
                   "never loaded. Model code runs in a worker process per model, confined before it opens the model\n"
                   "(memory and CPU limits, Landlock, seccomp: no network, no new processes, no file writes); a\n"
                   "worker that crashes, hangs or exceeds a limit is a finding for its model, and the others go on.\n"
                   "Exit codes: 0 pass, 1 review, 2 block, 3 invalid input or config, 4 failure during the run,\n"
                   "interrupted by SIGTERM/SIGINT (a partial report is written), or another run of the job is under way.");

  DiffArgs da;
  auto* diff = app.add_subcommand("diff", "Compare two reports check by check: what dropped since the older one");
  diff->add_option("before", da.before, "The older JSON report")->required();
  diff->add_option("after", da.after, "The newer JSON report")->required();
  diff->add_option("--max-drop", da.max_drop, "Absolute drop in an accuracy beyond which a check counts as a regression")
      ->check(CLI::Range(0.0, 1.0))->capture_default_str();
  diff->footer("Exit codes: 0 no drop beyond the limit, 1 a drop beyond it, 3 invalid input.");

  FingerprintArgs fa;
  auto* fp = app.add_subcommand("fingerprint", "Write a model's fingerprint (weight digests, architecture hash, activation statistics)");
  fp->add_option("model", fa.model, "TorchScript model (.pt)")->required();
  fp->add_option("--out", fa.out, "Fingerprint file to write (JSON)")->required();
  fp->add_option("--data", fa.data, "Dataset (.npz/.pt) whose first samples join the probes and fix the input shape");
  fp->add_option("--probes", fa.probes, "Number of seeded synthetic probes")->check(CLI::Range(1, 100000));
  fp->add_option("--real", fa.real, "Number of real samples from --data to add to the probes")->check(CLI::Range(0, 100000));
  fp->add_option("--seed", fa.seed, "Seed of the synthetic probes");
  fp->add_option("--input-shape", fa.input_shape, "Per-sample input shape C,H,W when neither --data nor the model's metadata gives it")
      ->delimiter(',');
  fp->add_option("--device", fa.device, "auto, cpu or cuda")->check(CLI::IsMember({"auto", "cpu", "cuda"}));
  fp->add_option("--layers", fa.layers, "Module paths to capture, comma-separated (e.g. layer1,layer1.0.conv1); "
                 "default: every top-level stage. 'modelgate inspect MODEL' lists them")->delimiter(',');
  fp->add_option("--boundary", fa.boundary, "Number of boundary probes: adversarial examples made on this model, "
                 "stored in the fingerprint and replayed by compare")->check(CLI::Range(0, 100000))->capture_default_str();
  fp->add_option("--boundary-eps", fa.boundary_eps, "L-inf radius of the PGD that makes the boundary probes")
      ->check(CLI::PositiveNumber)->capture_default_str();
  fp->add_option("--boundary-steps", fa.boundary_steps, "PGD steps for the boundary probes (each stops at its first "
                 "misclassified iterate)")->check(CLI::Range(1, 10000))->capture_default_str();
  fp->add_option("--sign", fa.sign, "Sign the fingerprint with this Ed25519 private key");

  CompareArgs ca;
  auto* cmp = app.add_subcommand("compare", "Compare a candidate model with a reference fingerprint");
  cmp->add_option("reference", ca.reference, "Reference fingerprint (JSON from 'modelgate fingerprint')")->required();
  cmp->add_option("candidate", ca.candidate, "Candidate TorchScript model (.pt), or its fingerprint (JSON) taken on the same probes")->required();
  cmp->add_option("--report", ca.report, "Also write the comparison as JSON to this path");
  cmp->add_option("--device", ca.device, "auto, cpu or cuda")->check(CLI::IsMember({"auto", "cpu", "cuda"}));
  cmp->add_option("--verify", ca.verify, "Refuse (exit 3) unless the reference, a candidate fingerprint and a thresholds file are\n"
                   "all signed by this Ed25519 public key and unaltered since ('modelgate sign' signs a thresholds file)");
  cmp->add_option("--sign", ca.sign, "Sign the comparison report with this Ed25519 private key");
  cmp->add_option("--thresholds", ca.thresholds, "Thresholds file (JSON) replacing the compiled-in calibration "
                  "(fingerprint/thresholds.json, from scripts/calibrate_fingerprints.py)");
  cmp->footer("Verdicts: identical (same weights), equivalent (same outputs within float tolerance),\n"
              "derived (a modified descendant: review), unrelated (block).\n"
              "Exit codes: 0 identical or equivalent, 1 derived, 2 unrelated, 3 invalid input.");

  RenderArgs ra;
  auto* render = app.add_subcommand("render", "Render an earlier JSON report again: HTML, JUnit XML, Prometheus textfile, summary");
  render->add_option("report", ra.report, "JSON report written by 'modelgate validate'")->required();
  render->add_option("--html", ra.html, "Write the HTML report to this path");
  render->add_option("--junit", ra.junit, "Write JUnit XML to this path");
  render->add_option("--prometheus", ra.prometheus, "Write a Prometheus textfile to this path");
  render->add_flag("--summary", ra.summary, "Print the terminal summary (the default when no file is asked for)");
  render->footer("Exit codes: 0 rendered, 3 not a readable modelgate report, 4 a file could not be written.");

  KeygenArgs ka;
  auto* keygen = app.add_subcommand("keygen", "Write an Ed25519 key pair for signing fingerprints and reports, or an AES-256 key");
  keygen->add_option("--out", ka.out, "Path prefix: writes PREFIX.key (mode 0600) and PREFIX.pub; with --symmetric, PREFIX.key only")
      ->required();
  keygen->add_flag("--symmetric", ka.symmetric, "Write a random AES-256 key for 'modelgate encrypt' instead of a signing key pair");
  keygen->footer("Existing files are never replaced. Exit codes: 0 written, 3 a file exists or cannot be made, 4 failure.");

  CryptArgs ea, xa;
  auto* encrypt = app.add_subcommand("encrypt", "Encrypt a model file at rest (AES-256-GCM) for validate to decrypt in memory");
  encrypt->add_option("model", ea.model, "The model file to encrypt")->required();
  encrypt->add_option("--key", ea.key, "Key file from 'modelgate keygen --symmetric' (mode 0600)")->required();
  encrypt->add_option("--out", ea.out, "The encrypted file to write (temporary file + rename; never the model itself)")->required();
  encrypt->footer("The model is neither scanned nor loaded: its bytes are enciphered as they are, with a random nonce\n"
                  "and a header naming the key id. A job entry names the file with key: KEY, or a ModelStorageEncryption\n"
                  "manifest names the folder of keys; validate then decrypts it in memory, scans the plaintext and\n"
                  "loads it from memory: no plaintext touches the disk.\n"
                  "Exit codes: 0 written, 3 invalid input (missing file, key not 0600, already encrypted), 4 failure.");
  auto* decrypt = app.add_subcommand("decrypt", "Write the plaintext of an encrypted model (mode 0600)");
  decrypt->add_option("model", xa.model, "The encrypted model (from 'modelgate encrypt')")->required();
  decrypt->add_option("--key", xa.key, "Key file whose id the encrypted file names (mode 0600)")->required();
  decrypt->add_option("--out", xa.out, "The plaintext file to write (mode 0600; temporary file + rename)")->required();
  decrypt->footer("validate does not need this: it decrypts in memory. Exit codes: 0 written, 3 wrong key, altered or\n"
                  "truncated file, or other invalid input, 4 failure.");

  ScanArgs sa;
  auto* scan = app.add_subcommand("scan", "Scan model files before anything loads them: archive limits, pickle globals, code that runs at load, graphs");
  scan->add_option("models", sa.models, "Model files (TorchScript archives; torch.save files and pickles are scanned too)")->required();
  scan->add_option("--report", sa.report, "Also write the scan as JSON to this path");
  scan->add_option("--key", sa.key, "Key of the encrypted models among MODEL...: each is decrypted in memory and its plaintext scanned");
  scan->add_option("--job", sa.job, "Take limits, accepted findings (spec.allow) and severity actions from this job's\n"
                   "ModelVulnerabilityScanning manifest");
  scan->footer("What is checked, before the model is loaded: the archive (record count, sizes and compression ratio\n"
               "against limits, names with .. or absolute paths, duplicates, records TorchScript does not have);\n"
               "every pickle, by a static opcode walk that never unpickles (globals outside what a tensor archive\n"
               "needs; os, subprocess, builtins.eval and the like are critical); TorchScript code (__setstate__ and\n"
               "__getstate__ beyond restoring attributes, calls of torch.save/load/from_file). Then, only if nothing\n"
               "blocks, the model is loaded and every method's inlined graph is checked (aten::save, aten::from_file,\n"
               "RPC: critical; operators outside aten/prim/quantized and unresolvable calls: high).\n"
               "validate, fingerprint, compare and inspect run the same scan before every load.\n"
               "Actions by severity: critical block, high review, others warn (a job's spec.severity may change them).\n"
               "Exit codes: 0 clean, 1 review, 2 block, 3 a file that cannot be scanned or loaded.");

  InspectArgs ia;
  auto* inspect = app.add_subcommand("inspect", "List a model's submodules, parameter count and input expectations");
  inspect->add_option("model", ia.model, "TorchScript model (.pt)")->required();
  inspect->add_flag("--json", ia.json, "Print JSON instead of text");
  inspect->footer("The model is scanned first and loaded only in a confined worker (as validate does).\n"
                  "Exit codes: 0 done, 2 blocked by the scan or the worker failed, 3 invalid input, 4 failure.");
  fp->footer("The model is scanned first and runs only in a confined worker (as validate does).\n"
             "Exit codes: 0 written, 2 blocked by the scan or the worker failed, 3 invalid input, 4 failure.");

  DatasetArgs dsa;
  auto* dataset = app.add_subcommand("dataset", "Show what validate reads from a job's dataset, and export it as .npy");
  dataset->add_option("job", dsa.job, "Job file (its ValidationJob spec.dataset)")->required();
  dataset->add_option("--export", dsa.export_dir, "Write the samples as DIR/inputs.npy (float32 N×C×H×W in [0, 1]) and DIR/labels.npy");
  dataset->add_option("--corrupt", dsa.corrupt, "Export the samples under one of the corruption benchmark's 19 corruptions "
                      "(gaussian_noise, fog, jpeg_compression, ...), as validate applies it");
  dataset->add_option("--severity", dsa.severity, "The corruption's severity, 1 to 5")->check(CLI::Range(1, 5));
  dataset->add_option("--parameters", dsa.parameters, "The benchmark's parameter table: cifar or imagenet (default: cifar up to 64 px, imagenet above)")
      ->check(CLI::IsMember({"cifar", "imagenet"}));
  dataset->add_option("--seed", dsa.seed, "The corruption's seed (default: the job's spec.seed, as validate uses)");
  dataset->add_flag("--json", dsa.json, "Print JSON instead of text");
  dataset->footer("Reads the dataset exactly as validate does (format, layout, limit, sample, resize, centre crop, skipped\n"
                  "images) and checks every label and value; no model is loaded. With --corrupt, the export holds the\n"
                  "samples as the RobustnessTesting test of that type and severity sees them (the same seed and stream).\n"
                  "Exit codes: 0 readable, 3 invalid input (named with the file and the sample), 4 failure.");

  SignArgs sga;
  auto* sign = app.add_subcommand("sign", "Sign a JSON document (a thresholds file, a fingerprint) for compare --verify");
  sign->add_option("file", sga.file, "The JSON document")->required();
  sign->add_option("--key", sga.key, "Ed25519 private key (from 'modelgate keygen'), mode 0600")->required();
  sign->add_option("--out", sga.out, "Write the signed document here instead of replacing FILE");
  sign->footer("The signature is stored inline as the document's \"signature\" field, over the rest of it.\n"
               "Exit codes: 0 signed, 3 not a JSON object or an unusable key, 4 the file could not be written.");

  // The model worker (engine/model_host.h) is started by modelgate itself; it is not in --help.
  auto* worker = app.add_subcommand("worker", "");
  worker->group("");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    fmt::print(stderr, "modelgate: error: {}\nRun 'modelgate --help' for usage.\n", e.what());
    return kInvalidInput;
  }
  if (app.get_subcommands().empty()) {
    std::cout << app.help();
    return kInvalidInput;
  }

  // TF32 convolutions and matmuls (on by default for cuDNN) differ from the CPU by ~1e-3:
  // enough to flip attack signs and fingerprint verdicts. Same results on every device come first.
  at::globalContext().setAllowTF32CuDNN(false);
  at::globalContext().setAllowTF32CuBLAS(false);
  // Repeated runs must give the same report: no autotuned, non-deterministic cuDNN algorithms.
  at::globalContext().setBenchmarkCuDNN(false);
  at::globalContext().setDeterministicCuDNN(true);
  if (threads) at::set_num_threads(*threads);

  if (worker->parsed()) return run_worker();

  // Only validate stops cleanly on SIGTERM/SIGINT (at a batch boundary, with a partial report);
  // every other command keeps the default: the signal ends it.
  if (validate->parsed()) va.signal = &install_termination_handlers();
  const Progress progress = quiet ? Progress{} : terminal_progress();
  try {
    if (validate->parsed()) return cmd_validate(va, progress);
    if (render->parsed()) return cmd_render(ra);
    if (diff->parsed()) return cmd_diff(da);
    if (fp->parsed()) return cmd_fingerprint(fa, progress);
    if (cmp->parsed()) return cmd_compare(ca, progress);
    if (inspect->parsed()) return cmd_inspect(ia);
    if (sign->parsed()) return cmd_sign(sga);
    if (dataset->parsed()) return cmd_dataset(dsa, progress);
    if (scan->parsed()) return cmd_scan(sa);
    if (keygen->parsed()) return cmd_keygen(ka);
    if (encrypt->parsed()) return cmd_encrypt(ea);
    if (decrypt->parsed()) return cmd_decrypt(xa);
  } catch (const std::invalid_argument& e) {  // InputError and component-level user errors
    fmt::print(stderr, "modelgate: error: {}\n", one_line(e));
    return kInvalidInput;
  } catch (const std::exception& e) {
    fmt::print(stderr, "modelgate: error: {}\n", one_line(e));
    return kRunFailure;
  } catch (...) {
    fmt::print(stderr, "modelgate: error: unknown internal failure\n");
    return kRunFailure;
  }
  return kRunFailure;
}

}  // namespace modelgate::engine
