#include "weights/file_io.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "tensor/error.h"

namespace edat::weights {

namespace {
std::string os_error() { return std::strerror(errno); }
}  // namespace

InputFile::InputFile(const std::string& path) : path_(path), file_(std::fopen(path.c_str(), "rb"), &std::fclose) {
  EDAT_CHECK(file_ != nullptr, "cannot open '" << path << "': " << os_error());
  std::error_code error;
  EDAT_CHECK(!std::filesystem::is_directory(path, error), "cannot read '" << path << "': it is a directory");
  size_ = std::filesystem::file_size(path, error);
  EDAT_CHECK(!error, "cannot read the size of '" << path << "': " << error.message());
}

void InputFile::read_at(std::uint64_t offset, void* out, std::size_t n) const {
  EDAT_CHECK(offset <= size_ && n <= size_ - offset,
             path_ << ": truncated: needs bytes " << offset << " to " << offset + n << " but the file has " << size_);
  if (n == 0) return;
  EDAT_CHECK(fseeko(file_.get(), static_cast<off_t>(offset), SEEK_SET) == 0,
             "cannot seek in '" << path_ << "': " << os_error());
  EDAT_CHECK(std::fread(out, 1, n, file_.get()) == n,
             "cannot read '" << path_ << "' at byte " << offset << ": "
                             << (std::ferror(file_.get()) ? os_error() : "unexpected end"));
}

std::vector<std::uint8_t> read_file(const std::string& path) {
  InputFile file(path);
  std::vector<std::uint8_t> bytes(file.size());
  file.read_at(0, bytes.data(), bytes.size());
  return bytes;
}

std::vector<std::uint8_t> read_prefix(const std::string& path, std::size_t n) {
  InputFile file(path);
  std::vector<std::uint8_t> bytes(std::min<std::uint64_t>(n, file.size()));
  file.read_at(0, bytes.data(), bytes.size());
  return bytes;
}

void write_bytes(std::FILE* file, const void* data, std::size_t n, const std::string& path) {
  if (n == 0) return;
  EDAT_CHECK(std::fwrite(data, 1, n, file) == n, "cannot write '" << path << "': " << os_error());
}

void write_file_atomically(const std::string& path, const std::function<void(std::FILE*)>& write_all) {
  const std::string temporary = path + ".tmp-" + std::to_string(::getpid());
  std::FILE* file = std::fopen(temporary.c_str(), "wb");
  EDAT_CHECK(file != nullptr, "cannot create '" << temporary << "': " << os_error());
  try {
    write_all(file);
    EDAT_CHECK(std::fflush(file) == 0, "cannot write '" << temporary << "': " << os_error());
    EDAT_CHECK(::fsync(::fileno(file)) == 0, "cannot flush '" << temporary << "' to disk: " << os_error());
    const int closed = std::fclose(file);
    file = nullptr;
    EDAT_CHECK(closed == 0, "cannot close '" << temporary << "': " << os_error());
    EDAT_CHECK(std::rename(temporary.c_str(), path.c_str()) == 0,
               "cannot rename '" << temporary << "' to '" << path << "': " << os_error());
  } catch (...) {
    if (file) std::fclose(file);
    std::remove(temporary.c_str());
    throw;
  }
  // Make the rename itself durable (best effort: some file systems refuse to sync a folder).
  std::filesystem::path folder = std::filesystem::path(path).parent_path();
  const int dir = ::open(folder.empty() ? "." : folder.c_str(), O_RDONLY | O_DIRECTORY);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
}

}  // namespace edat::weights
