// TensorBoard event files: scalars (loss, MAE, learning rate ...) that `tensorboard --logdir` plots while training runs.
#pragma once

#include <cstdint>
#include <fstream>
#include <string>

namespace edat::track {

// Seconds since the Unix epoch, with sub-second precision (an Event's wall_time).
double unix_seconds();

// Writes `logdir/events.out.tfevents.<unix time>.<hostname>`: TFRecord framing around hand-encoded `Event` protobufs
// (the format is described in track/README.md). The first record declares the file version, then one record per
// scalar. TensorBoard reads a file while it grows, so call flush() after each epoch to see the points live.
class EventWriter {
 public:
  // Creates `logdir` if needed; an existing file of the same name is never overwritten (a suffix .1, .2 ... is added).
  explicit EventWriter(const std::string& logdir);
  ~EventWriter();  // flushes, ignoring errors (a destructor must not throw)
  EventWriter(const EventWriter&) = delete;
  EventWriter& operator=(const EventWriter&) = delete;

  // One point of the curve `tag`. TensorBoard stores scalars as float32, so `value` is rounded to float.
  void add_scalar(const std::string& tag, double value, std::int64_t step, double wall_time = unix_seconds());
  void flush();

  const std::string& path() const { return path_; }

 private:
  void write_record(const std::string& data);

  std::string path_;
  std::ofstream out_;
};

}  // namespace edat::track
