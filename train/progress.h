// Progress of one epoch on stdout: a bar redrawn in place on a terminal, plain lines every few seconds otherwise
// (a log file or CI output stays readable).
//
//   epoch 3/20 [=========>          ] 45/120  312 img/s  loss 7.214  ETA 0:42
#pragma once
#include <chrono>
#include <cstddef>
#include <string>

namespace edat::train {

class Progress {
 public:
  // total: batches in the epoch; first: batches already done (a resumed epoch); interval: seconds between lines
  // when stdout is not a terminal; shown false: counts without printing (data-parallel ranks other than 0).
  Progress(std::string label, std::size_t total, std::size_t first, double interval, bool shown = true);
  // After each batch: batches done so far, images of this batch, the epoch's mean loss so far.
  void update(std::size_t done, std::size_t images, double mean_loss);
  // Ends the bar's line (the epoch summary is printed by the caller).
  void finish();
  double images_per_second() const;
  double seconds() const;

 private:
  void draw(std::size_t done, double mean_loss);
  std::string label_;
  std::size_t total_, first_;
  double interval_;
  bool terminal_;
  std::size_t images_ = 0;
  std::chrono::steady_clock::time_point start_, last_draw_;
  bool drawn_ = false;
  bool shown_ = true;
};

// "1:02:03" or "2:03".
std::string format_duration(double seconds);

}  // namespace edat::train
