// The tests' main: Catch2's, with SIGPIPE ignored — a client whose upload the server refuses
// early (413) sees EPIPE on its next write, as a program should, rather than dying of it.
#define CATCH_CONFIG_RUNNER
#include <signal.h>

#include <catch2/catch.hpp>

int main(int argc, char* argv[]) {
  ::signal(SIGPIPE, SIG_IGN);
  return Catch::Session().run(argc, argv);
}
