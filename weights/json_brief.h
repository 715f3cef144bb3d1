// A short description of a JSON value from a file, for error messages (used by weights/ and train/).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace edat::weights {

// Scalars as they are written (at most 40 characters); arrays and objects by type and size only. Never dump() an
// untrusted structure whole: dump() recurses, and a deeply nested header would overflow the stack.
template <class Json>
std::string json_brief(const Json& value) {
  if (value.is_array()) return "an array of " + std::to_string(value.size());
  if (value.is_object()) return "an object of " + std::to_string(value.size()) + " keys";
  std::string text = value.dump(-1, ' ', false, Json::error_handler_t::replace);
  constexpr std::size_t max_chars = 40;
  if (text.size() > max_chars) text = text.substr(0, max_chars) + "...";
  return text;
}

}  // namespace edat::weights
