// Reading and atomically writing whole files, with errors that name the file (internal to weights/).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace edat::weights {

// A file opened for reading; every read is checked and a short read is an edat::Error naming the file.
class InputFile {
 public:
  explicit InputFile(const std::string& path);
  std::uint64_t size() const { return size_; }
  const std::string& path() const { return path_; }
  void read_at(std::uint64_t offset, void* out, std::size_t n) const;

 private:
  std::string path_;
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file_;
  std::uint64_t size_ = 0;
};

std::vector<std::uint8_t> read_file(const std::string& path);
// The first `n` bytes (fewer when the file is shorter).
std::vector<std::uint8_t> read_prefix(const std::string& path, std::size_t n);

// Writes through `write_all(FILE*)` into a temporary file next to `path`, flushes it to disk and renames it over
// `path`, so a reader never sees a half-written file; on any failure the temporary file is removed.
void write_file_atomically(const std::string& path, const std::function<void(std::FILE*)>& write_all);
// fwrite that throws naming `path` on failure.
void write_bytes(std::FILE* file, const void* data, std::size_t n, const std::string& path);

}  // namespace edat::weights
