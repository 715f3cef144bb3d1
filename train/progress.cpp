#include "train/progress.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>

namespace edat::train {

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const long total = std::lround(seconds);
  char text[32];
  if (total >= 3600)
    std::snprintf(text, sizeof text, "%ld:%02ld:%02ld", total / 3600, total / 60 % 60, total % 60);
  else
    std::snprintf(text, sizeof text, "%ld:%02ld", total / 60, total % 60);
  return text;
}

Progress::Progress(std::string label, std::size_t total, std::size_t first, double interval, bool shown)
    : label_(std::move(label)),
      total_(total),
      first_(first),
      interval_(interval),
      terminal_(::isatty(STDOUT_FILENO) == 1),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_),
      shown_(shown) {}

double Progress::seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

double Progress::images_per_second() const {
  const double s = seconds();
  return s > 0 ? static_cast<double>(images_) / s : 0;
}

void Progress::update(std::size_t done, std::size_t images, double mean_loss) {
  images_ += images;
  const auto now = std::chrono::steady_clock::now();
  const double since = std::chrono::duration<double>(now - last_draw_).count();
  // A terminal is redrawn at most 10 times a second; a log gets a line every interval (and the epoch's last batch).
  const double wait = terminal_ ? 0.1 : interval_;
  if (!shown_ || (since < wait && done != total_)) return;
  if (!terminal_ && done == total_ && !drawn_ && since < interval_) return;  // short epochs: the summary suffices
  last_draw_ = now;
  draw(done, mean_loss);
}

void Progress::draw(std::size_t done, double mean_loss) {
  const double elapsed = seconds();
  const double rate = elapsed > 0 ? static_cast<double>(done - first_) / elapsed : 0;  // batches per second
  const double eta = rate > 0 ? static_cast<double>(total_ - done) / rate : NAN;
  char line[256];
  if (terminal_) {
    constexpr int width = 24;
    const int filled = total_ ? static_cast<int>(width * done / total_) : width;
    std::string bar(static_cast<std::size_t>(filled), '=');
    if (filled < width) bar += '>' + std::string(static_cast<std::size_t>(width - filled - 1), ' ');
    std::snprintf(line, sizeof line, "\r%s [%s] %zu/%zu  %.0f img/s  loss %.4f  ETA %s\x1b[K", label_.c_str(),
                  bar.c_str(), done, total_, images_per_second(), mean_loss, format_duration(eta).c_str());
  } else {
    std::snprintf(line, sizeof line, "%s: batch %zu/%zu, %.0f img/s, loss %.4f, ETA %s\n", label_.c_str(), done, total_,
                  images_per_second(), mean_loss, format_duration(eta).c_str());
  }
  std::fputs(line, stdout);
  std::fflush(stdout);
  drawn_ = true;
}

void Progress::finish() {
  if (terminal_ && drawn_) {
    std::fputs("\r\x1b[K", stdout);  // the bar gives way to the epoch's summary line
    std::fflush(stdout);
  }
}

}  // namespace edat::train
