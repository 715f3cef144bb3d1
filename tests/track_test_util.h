// Helpers for the track/ tests: a scratch folder per test (removed when the run ends) and whole-file reads.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

namespace edat::testing {

// This process's scratch root: /tmp/edat_test_track_<pid>, so that concurrent ctest runs never share a folder.
inline std::filesystem::path track_scratch_root() {
  return std::filesystem::temp_directory_path() / ("edat_test_track_" + std::to_string(getpid()));
}

// Removes the scratch root once every test of the executable has run.
class RemoveTrackScratch : public ::testing::Environment {
  void TearDown() override { std::filesystem::remove_all(track_scratch_root()); }
};
inline const auto* const remove_track_scratch = ::testing::AddGlobalTestEnvironment(new RemoveTrackScratch);

// A fresh, empty folder for one test.
inline std::filesystem::path scratch_dir(const std::string& name) {
  const std::filesystem::path dir = track_scratch_root() / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

// The whole file, byte for byte ("" when it cannot be read).
inline std::string read_file_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace edat::testing
