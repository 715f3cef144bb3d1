// The weight readers take a path: each input is written to one file of this process, then read back.
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

inline const std::string& fuzz_input_file(const std::uint8_t* data, std::size_t size) {
  static const std::string path = "/tmp/edat_fuzz_input_" + std::to_string(::getpid());
  std::FILE* file = std::fopen(path.c_str(), "wb");
  if (file == nullptr || (size > 0 && std::fwrite(data, 1, size, file) != size) || std::fclose(file) != 0) {
    std::perror(path.c_str());
    std::abort();
  }
  return path;
}
