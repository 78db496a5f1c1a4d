// An invariant a fuzz target checks on every input: a broken one aborts, so libFuzzer keeps
// the input as a crash (and it fails in release builds too, unlike assert).
#pragma once

#include <cstdio>
#include <cstdlib>

#define CHECK(cond)                                                                     \
  do {                                                                                  \
    if (!(cond)) {                                                                      \
      std::fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                     \
    }                                                                                   \
  } while (0)
