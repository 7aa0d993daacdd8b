#pragma once
// The child's half of the sandbox: it confines itself, once, after its runtime is loaded and
// before it opens the untrusted file (the OpenSSH/Chromium shape: limits first, input second).
#include "engine/isolation/policy.h"

namespace modelgate::engine::isolation {

/// Applies `policy` to the calling process, irreversibly, in this order: rlimits (RLIMIT_AS =
/// current VmSize from /proc/self/status + memory_bytes; RLIMIT_CPU; RLIMIT_CORE 0),
/// PR_SET_NO_NEW_PRIVS, Landlock (where the kernel has it), seccomp (libseccomp). What the kernel
/// lacks is skipped and said so in Applied; a failure to apply something the kernel has throws
/// std::runtime_error with the reason. Call it after the runtime is warmed up and before the untrusted file is opened.
///
/// Threads: rlimits and seccomp (loaded with TSYNC) cover every thread. Landlock binds only the
/// thread that calls landlock_restrict_self, so threads started before confine() are reached
/// through a real-time signal (SIGRTMIN+4; its previous handler is restored afterwards) and
/// restrict themselves; a thread that keeps that signal blocked cannot be reached, is counted in
/// Applied::landlock_unconfined_threads, and restricts itself only if it ever unblocks it (the
/// handler then stays installed). RLIMIT_CPU's hard limit is one second above the soft
/// one, so a child that ignores SIGXCPU is killed (SIGKILL) a second later.
Applied confine(const Policy& policy);

}  // namespace modelgate::engine::isolation
