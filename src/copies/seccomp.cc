#include "src/copies/seccomp.h"

#include <errno.h>
#include <sched.h>

namespace starling::copies {

const std::vector<std::string>& DeniedSyscalls() {
  static const std::vector<std::string> kDenied = {
      // Namespaces: a new user namespace gives root-in-a-namespace powers over the kernel.
      "unshare", "setns",
      // Mounts, old and new API.
      "mount", "umount", "umount2", "pivot_root", "open_tree", "move_mount", "fsopen", "fsconfig",
      "fsmount", "fspick", "mount_setattr",
      // The kernel's keyrings are not namespaced.
      "keyctl", "add_key", "request_key",
      // Modules, kexec, reboot.
      "init_module", "finit_module", "delete_module", "create_module", "kexec_load",
      "kexec_file_load", "reboot",
      // Large kernel surfaces a web site never needs.
      "bpf", "perf_event_open", "userfaultfd", "io_uring_setup", "io_uring_enter",
      "io_uring_register", "fanotify_init", "lookup_dcookie",
      // Reaching other processes' memory, or files by handle (past the root).
      "ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd", "kcmp", "open_by_handle_at",
      "name_to_handle_at",
      // The host's clock, accounting, swap, quotas, the kernel log.
      "settimeofday", "clock_settime", "clock_settime64", "clock_adjtime", "clock_adjtime64",
      "adjtimex", "stime", "acct", "quotactl", "quotactl_fd", "swapon", "swapoff", "syslog",
      "vhangup",
      // Obsolete or hardware-level.
      "iopl", "ioperm", "vm86", "vm86old", "nfsservctl", "uselib", "_sysctl", "sysfs", "ustat",
      "get_kernel_syms", "query_module"};
  return kDenied;
}

unsigned long NamespaceCloneFlags() {
  return CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER |
         CLONE_NEWPID | CLONE_NEWNET | 0x00000080UL;  // CLONE_NEWTIME
}

nlohmann::json SeccompProfile() {
#if defined(__x86_64__)
  const std::vector<std::string> architectures = {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86",
                                                  "SCMP_ARCH_X32"};
#elif defined(__aarch64__)
  const std::vector<std::string> architectures = {"SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"};
#else
  const std::vector<std::string> architectures = {};
#endif
  nlohmann::json syscalls = nlohmann::json::array();
  syscalls.push_back(
      {{"names", DeniedSyscalls()}, {"action", "SCMP_ACT_ERRNO"}, {"errnoRet", EPERM}});
  syscalls.push_back({{"names", {"clone3"}}, {"action", "SCMP_ACT_ERRNO"}, {"errnoRet", ENOSYS}});
  // One rule per flag: rules on one call are alternatives (any flag set refuses it).
  for (unsigned long bit = 1; bit != 0; bit <<= 1) {
    if ((NamespaceCloneFlags() & bit) == 0) continue;
    syscalls.push_back(
        {{"names", {"clone"}},
         {"action", "SCMP_ACT_ERRNO"},
         {"errnoRet", EPERM},
         {"args",
          {{{"index", 0}, {"value", bit}, {"valueTwo", bit}, {"op", "SCMP_CMP_MASKED_EQ"}}}}});
  }
  return {{"defaultAction", "SCMP_ACT_ALLOW"},
          {"architectures", architectures},
          {"syscalls", std::move(syscalls)}};
}

}  // namespace starling::copies
