#include "engine/isolation/seccomp_filter.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <initializer_list>
#include <sched.h>
#include <stdexcept>
#include <sys/socket.h>
#include <unistd.h>

#include <seccomp.h>

namespace modelgate::engine::isolation::detail {
namespace {

// A deny list on top of ALLOW: the runtime (ATen, OpenMP, CUDA) makes system calls no allow
// list could predict, while what a hostile model needs to do harm is a short, known list.
class Filter {
 public:
  Filter() : ctx_(seccomp_init(SCMP_ACT_ALLOW)) {
    if (!ctx_) throw std::runtime_error("seccomp: cannot create a filter");
    // Threads started before confine() (thread pools) must be bound too.
    check(seccomp_attr_set(ctx_, SCMP_FLTATR_CTL_TSYNC, 1), "cannot ask for all threads (TSYNC)");
  }
  ~Filter() { seccomp_release(ctx_); }
  Filter(const Filter&) = delete;
  Filter& operator=(const Filter&) = delete;

  /// Fails `name` with `error` when all of `args` match (always, without args). `fallback_nr` is
  /// the x86-64 number of a system call newer than this libseccomp.
  void deny(const char* name, std::initializer_list<scmp_arg_cmp> args = {}, int error = EPERM, int fallback_nr = -1) {
    int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR) {
#if defined(__x86_64__)
      nr = fallback_nr;
#endif
      if (nr < 0) return;  // unknown here, so absent from this kernel's architecture too
    }
    const int rc = seccomp_rule_add_array(ctx_, SCMP_ACT_ERRNO(error), nr, static_cast<unsigned>(args.size()),
                                          args.size() ? args.begin() : nullptr);
    check(rc, std::string("cannot add the rule for ") + name);
  }

  void load() { check(seccomp_load(ctx_), "the kernel refused the filter"); }

 private:
  static void check(int rc, const std::string& what) {
    if (rc < 0) throw std::runtime_error("seccomp: " + what + " (" + std::strerror(-rc) + ")");
  }
  scmp_filter_ctx ctx_;
};

void deny_all(Filter& f, std::initializer_list<const char*> names) {
  for (const char* n : names) f.deny(n);
}

}  // namespace

std::string apply_seccomp(const Policy& policy) {
  Filter f;
  const auto pid = static_cast<scmp_datum_t>(::getpid());

  // Network: no sockets at all; a socketpair of unix sockets stays (runtimes use them as pipes).
  deny_all(f, {"socket", "connect", "bind", "listen", "accept", "accept4"});
  f.deny("socketpair", {SCMP_A0(SCMP_CMP_NE, AF_UNIX)});

  // New processes and programs. clone3 passes its flags in memory a filter cannot read, so it
  // answers ENOSYS and glibc falls back to clone, whose flags (arg 0) can be checked: threads
  // pass, processes and new namespaces do not.
  deny_all(f, {"execve", "execveat", "fork", "vfork"});
  f.deny("clone3", {}, ENOSYS);
  f.deny("clone", {SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, 0)});
  for (const scmp_datum_t ns : {CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER,
                                CLONE_NEWPID, CLONE_NEWNET})
    f.deny("clone", {SCMP_A0(SCMP_CMP_MASKED_EQ, ns, ns)});

  // Other processes: no tracing, no reading their memory, no signals except to ourselves.
  deny_all(f, {"ptrace", "process_vm_readv", "process_vm_writev", "process_madvise", "pidfd_open",
               "pidfd_getfd", "pidfd_send_signal"});
  for (const char* name : {"kill", "tgkill", "tkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo"})
    f.deny(name, {SCMP_A0(SCMP_CMP_NE, pid)});

  // The system: mounts, namespaces, kernel features with a history of exploits (BPF, perf,
  // io_uring, which also bypasses this filter for the calls it submits), keys, modules, and
  // what a root child could change for everyone. Limits stay as confine() set them.
  deny_all(f, {"mount", "umount2", "pivot_root", "chroot", "setns", "unshare", "fsopen", "fsconfig", "fsmount",
               "fspick", "move_mount", "open_tree", "mount_setattr", "bpf", "perf_event_open", "userfaultfd",
               "io_uring_setup", "io_uring_enter", "io_uring_register", "keyctl", "add_key", "request_key",
               "init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load", "reboot",
               "swapon", "swapoff", "acct", "quotactl", "iopl", "ioperm", "settimeofday", "clock_settime",
               "clock_adjtime", "adjtimex", "sethostname", "setdomainname", "open_by_handle_at", "setrlimit"});
  f.deny("open_tree_attr", {}, EPERM, 467);
  f.deny("prlimit64", {SCMP_A2(SCMP_CMP_NE, 0)});  // setting; reading (new limit NULL) stays
  // Identity changes are refused under no_new_privs anyway for gains; this also stops a root
  // child from dropping to another user's files.
  deny_all(f, {"setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid", "setfsuid", "setfsgid",
               "setgroups", "capset"});

  std::string writes;
  if (!policy.allow_writes) {
    // Creating, renaming, removing and changing files or their metadata. Landlock does not cover
    // chmod, chown, utimes or extended attributes, so these rules are the only guard there.
    deny_all(f, {"creat", "rename", "renameat", "renameat2", "unlink", "unlinkat", "mkdir", "mkdirat", "rmdir",
                 "link", "linkat", "symlink", "symlinkat", "truncate", "ftruncate", "chmod", "fchmod", "fchmodat",
                 "chown", "fchown", "lchown", "fchownat", "mknod", "mknodat", "utime", "utimes", "futimesat",
                 "utimensat", "setxattr", "lsetxattr", "fsetxattr", "removexattr", "lremovexattr",
                 "fremovexattr"});
    f.deny("fchmodat2", {}, EPERM, 452);
    f.deny("setxattrat", {}, EPERM, 463);
    f.deny("removexattrat", {}, EPERM, 466);
    f.deny("file_setattr", {}, EPERM, 469);
    if (policy.device_paths.empty()) {
      // Opening for writing. openat2 passes its flags in memory, like clone3.
      for (const scmp_datum_t flag : {O_WRONLY, O_RDWR, O_CREAT, O_TRUNC}) {
        f.deny("open", {SCMP_A1(SCMP_CMP_MASKED_EQ, flag, flag)});
        f.deny("openat", {SCMP_A2(SCMP_CMP_MASKED_EQ, flag, flag)});
      }
      f.deny("openat2", {}, ENOSYS);
      writes = ", no file writes, creations, renames, removals or metadata changes";
    } else {
      writes = ", no file creations, renames, removals or metadata changes (opening for writing is left to "
               "Landlock because a GPU device is open read-write)";
    }
  } else {
    writes = ", file writes allowed";
  }
  f.load();
  return "seccomp (all threads): no network sockets, no new processes or programs, no ptrace or signals to other "
         "processes, no mounts, namespaces, BPF, io_uring, kernel keys or modules, no raising of limits" +
         writes;
}

}  // namespace modelgate::engine::isolation::detail
