// The Event protobuf is encoded by hand (a few fields, see README.md): pulling in protobuf for two messages would add
// a code generator to the build.
#include "track/tensorboard.h"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "tensor/error.h"
#include "track/crc32c.h"

namespace edat::track {
namespace {

// Protobuf wire types: varint (int64), 64-bit (double), length-delimited (string, message), 32-bit (float).
enum WireType : std::uint32_t { kVarint = 0, kFixed64 = 1, kBytes = 2, kFixed32 = 5 };

void put_varint(std::string& out, std::uint64_t value) {
  while (value >= 0x80) {
    out.push_back(static_cast<char>((value & 0x7F) | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
}

void put_key(std::string& out, std::uint32_t field, WireType type) { put_varint(out, (field << 3) | type); }

template <class T>
void put_little_endian(std::string& out, T value) {  // every platform edat builds on is little-endian
  char bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));
  out.append(bytes, sizeof(T));
}

void put_double(std::string& out, std::uint32_t field, double value) {
  put_key(out, field, kFixed64);
  put_little_endian(out, value);
}

void put_float(std::string& out, std::uint32_t field, float value) {
  put_key(out, field, kFixed32);
  put_little_endian(out, value);
}

void put_int64(std::string& out, std::uint32_t field, std::int64_t value) {
  put_key(out, field, kVarint);
  put_varint(out, static_cast<std::uint64_t>(value));  // negative int64 is a 10-byte two's-complement varint
}

void put_bytes(std::string& out, std::uint32_t field, const std::string& bytes) {
  put_key(out, field, kBytes);
  put_varint(out, bytes.size());
  out += bytes;
}

// Event fields (tensorflow/core/util/event.proto): wall_time = 1, step = 2, file_version = 3, summary = 5.
// Summary: repeated Value value = 1; Value: tag = 1, simple_value = 2.
std::string version_event(double wall_time) {
  std::string event;
  put_double(event, 1, wall_time);
  put_bytes(event, 3, "brain.Event:2");
  return event;
}

std::string scalar_event(const std::string& tag, float value, std::int64_t step, double wall_time) {
  std::string summary_value;
  put_bytes(summary_value, 1, tag);
  put_float(summary_value, 2, value);
  std::string summary;
  put_bytes(summary, 1, summary_value);
  std::string event;
  put_double(event, 1, wall_time);
  put_int64(event, 2, step);
  put_bytes(event, 5, summary);
  return event;
}

std::string hostname() {
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) != 0 || name[0] == '\0') return "localhost";
  return name;
}

std::string unused_event_path(const std::filesystem::path& logdir) {
  const auto seconds = static_cast<long long>(std::floor(unix_seconds()));
  const std::string base = (logdir / ("events.out.tfevents." + std::to_string(seconds) + "." + hostname())).string();
  std::string path = base;
  for (int n = 1; std::filesystem::exists(path); ++n) path = base + "." + std::to_string(n);
  return path;
}

}  // namespace

double unix_seconds() {
  const auto since_epoch = std::chrono::system_clock::now().time_since_epoch();
  return std::chrono::duration<double>(since_epoch).count();
}

EventWriter::EventWriter(const std::string& logdir) {
  EDAT_CHECK(!logdir.empty(), "EventWriter: the log directory is empty");
  std::error_code error;
  std::filesystem::create_directories(logdir, error);
  EDAT_CHECK(!error && std::filesystem::is_directory(logdir),
             "EventWriter: cannot create the log directory " << logdir << (error ? ": " + error.message() : ""));
  path_ = unused_event_path(logdir);
  out_.open(path_, std::ios::binary | std::ios::trunc);
  EDAT_CHECK(out_.is_open(), "EventWriter: cannot create the event file " << path_);
  write_record(version_event(unix_seconds()));
  flush();
}

EventWriter::~EventWriter() {
  out_.flush();  // an error here stays silent: the last explicit flush() reported it
}

void EventWriter::add_scalar(const std::string& tag, double value, std::int64_t step, double wall_time) {
  EDAT_CHECK(!tag.empty(), "EventWriter::add_scalar: the tag is empty (step " << step << ", file " << path_ << ")");
  write_record(scalar_event(tag, static_cast<float>(value), step, wall_time));
}

void EventWriter::flush() {
  out_.flush();
  EDAT_CHECK(out_.good(), "EventWriter: cannot write the event file " << path_);
}

// A TFRecord: uint64 length, masked CRC of those 8 bytes, the data, masked CRC of the data (all little-endian).
void EventWriter::write_record(const std::string& data) {
  std::string record;
  put_little_endian(record, static_cast<std::uint64_t>(data.size()));
  put_little_endian(record, mask_crc(crc32c(record)));
  record += data;
  put_little_endian(record, mask_crc(crc32c(data)));
  out_.write(record.data(), static_cast<std::streamsize>(record.size()));
  EDAT_CHECK(out_.good(), "EventWriter: cannot write the event file " << path_);
}

}  // namespace edat::track
