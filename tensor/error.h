// edat::Error, the one exception type of edat, and EDAT_CHECK for argument validation.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace edat {

// Thrown for every user-facing failure (bad shapes, dtypes, devices, files, CUDA errors).
// The message names what a user needs to fix the call: the op, both operands, the file or key.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace edat

// EDAT_CHECK(cond, "add: shapes differ: " << a.desc() << " vs " << b.desc());
// The message is a stream expression, built only when the check fails.
#define EDAT_CHECK(cond, message)               \
  do {                                          \
    if (!(cond)) {                              \
      std::ostringstream edat_check_stream_;    \
      edat_check_stream_ << message;            \
      throw ::edat::Error(edat_check_stream_.str()); \
    }                                           \
  } while (false)
