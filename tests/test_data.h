#pragma once
// Where the tests' data files live.
#include <cstdlib>
#include <string>

namespace rvos::testing {

// $RVOS_TEST_DATA when set (test binaries run away from their source tree, e.g. a bundle on a GPU
// machine), else this source tree's tests/data.
inline std::string test_data_dir() {
  const char* env = std::getenv("RVOS_TEST_DATA");
  return env != nullptr && *env != '\0' ? std::string(env) : std::string(RVOS_TEST_DATA);
}

}  // namespace rvos::testing
