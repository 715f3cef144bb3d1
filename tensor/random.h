// A seeded, counter-based random generator whose stream is reproducible on every platform and thread count.
//
// Draw i of a generator with seed s is splitmix64(s, offset + i): a pure function of (seed, position), so
// filling a tensor in parallel, on any machine, gives the same numbers. (std::normal_distribution is
// implementation-defined, so it is not used.) Uniform values take the top 53 bits; normal values use Box-Muller.
#pragma once

#include <cmath>
#include <cstdint>

#include "tensor/host_device.h"

namespace edat {

class Generator {
 public:
  explicit Generator(std::uint64_t seed = 0) : seed_(seed) {}

  std::uint64_t seed() const { return seed_; }
  std::uint64_t offset() const { return offset_; }
  void set_state(std::uint64_t seed, std::uint64_t offset) { seed_ = seed, offset_ = offset; }
  // Reserves `count` consecutive draws and returns the position of the first.
  std::uint64_t advance(std::uint64_t count) {
    std::uint64_t first = offset_;
    offset_ += count;
    return first;
  }

  // The raw 64-bit draw at absolute position `position` of the stream with `seed`.
  EDAT_HOST_DEVICE static std::uint64_t bits(std::uint64_t seed, std::uint64_t position) {
    std::uint64_t z = seed * 0xD1B54A32D192ED03ull + (position + 1) * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // A double uniform in [0, 1) from draw `position`.
  EDAT_HOST_DEVICE static double unit(std::uint64_t seed, std::uint64_t position) {
    return static_cast<double>(bits(seed, position) >> 11) * 0x1.0p-53;
  }
  // Element i of a uniform fill starting at `first`: low + (high - low) * unit(first + i).
  EDAT_HOST_DEVICE static double uniform_at(std::uint64_t seed, std::uint64_t first, std::uint64_t i, double low,
                                            double high) {
    return low + (high - low) * unit(seed, first + i);
  }
  // Element i of a normal fill starting at `first` (Box-Muller on draws first+2i and first+2i+1; 1-u avoids log 0).
  EDAT_HOST_DEVICE static double normal_at(std::uint64_t seed, std::uint64_t first, std::uint64_t i, double mean,
                                           double std) {
    double u1 = 1.0 - unit(seed, first + 2 * i);
    double u2 = unit(seed, first + 2 * i + 1);
    return mean + std * ::sqrt(-2.0 * ::log(u1)) * ::cos(6.283185307179586 * u2);
  }

  // Convenience draws for host code (shuffles, augmentation parameters); each consumes one position.
  double next_unit() { return unit(seed_, offset_++); }
  std::uint64_t next_bits() { return bits(seed_, offset_++); }

 private:
  std::uint64_t seed_;
  std::uint64_t offset_ = 0;
};

// The process-wide generator used when none is given (e.g. by model initialisation); reseed with manual_seed.
Generator& default_generator();
void manual_seed(std::uint64_t seed);

}  // namespace edat
