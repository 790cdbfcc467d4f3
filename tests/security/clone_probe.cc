// A probe run inside a copy (tests/security/copy_contained_test.cc): clone(2) with
// CLONE_NEWUSER, called directly (not through unshare, which the seccomp filter refuses by name),
// so that the filter's rules on clone's flags are what is tried. Exit 0: a child was made in a
// new user namespace; 1: refused. Linked statically: the copy's image holds only busybox.
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

int main() {
  const long pid = ::syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, nullptr, nullptr, nullptr, 0);
  if (pid < 0) return 1;
  if (pid == 0) ::_exit(0);
  int status = 0;
  ::waitpid(static_cast<pid_t>(pid), &status, 0);
  return 0;
}
