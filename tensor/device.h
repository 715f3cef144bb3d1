// Where a tensor lives: the CPU or one CUDA device ("cuda:N").
#pragma once

#include <cstdint>
#include <string>

namespace edat {

struct Device {
  enum class Kind : std::uint8_t { cpu, cuda };
  Kind kind = Kind::cpu;
  int index = 0;

  static Device cpu() { return {Kind::cpu, 0}; }
  static Device cuda(int index = 0) { return {Kind::cuda, index}; }
  // Parses "cpu", "cuda" or "cuda:N"; throws edat::Error on anything else.
  static Device parse(const std::string& text);

  bool is_cpu() const { return kind == Kind::cpu; }
  bool is_cuda() const { return kind == Kind::cuda; }
  std::string str() const { return is_cpu() ? "cpu" : "cuda:" + std::to_string(index); }
  bool operator==(const Device&) const = default;
};

}  // namespace edat
