// Small helpers shared by the benchmark programs: the median of timings and the process's peak memory.
#pragma once
#include <algorithm>
#include <fstream>
#include <string>
#include <vector>

namespace edat::bench {

// The median of `values` (the upper one of the two middle values for an even count); values must not be empty.
inline double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

// Peak resident set size of this process in MiB (VmHWM of /proc/self/status; 0 where that file does not exist).
inline double peak_rss_mib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  }
  return 0;
}

}  // namespace edat::bench
