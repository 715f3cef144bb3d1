// A small TFRecord + protobuf reader of TensorBoard event files for the tests (test_tensorboard, test_train), written
// here from the formats' specifications rather than with edat's writer, so that it can disagree with it.
#pragma once

#include <gtest/gtest.h>

#include <bit>
#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "track/crc32c.h"

namespace edat::testing {

using edat::track::crc32c;

template <class T>
T load(const std::string& bytes, std::size_t offset) {
  T value;
  std::memcpy(&value, bytes.data() + offset, sizeof(T));
  return value;
}

// Splits a TFRecord stream into its records, checking both masked CRCs; fails the test on any framing error.
inline std::vector<std::string> read_records(const std::string& bytes) {
  std::vector<std::string> records;
  std::size_t at = 0;
  while (at < bytes.size()) {
    EXPECT_LE(at + 12, bytes.size()) << "truncated header at byte " << at;
    if (at + 12 > bytes.size()) break;
    const auto length = load<std::uint64_t>(bytes, at);
    const std::uint32_t length_crc = ((crc32c(bytes.data() + at, 8) >> 15) | (crc32c(bytes.data() + at, 8) << 17)) +
                                     0xa282ead8u;  // the mask spelled out again, not taken from crc32c.h
    EXPECT_EQ(load<std::uint32_t>(bytes, at + 8), length_crc) << "length CRC of the record at byte " << at;
    EXPECT_LE(at + 12 + length + 4, bytes.size()) << "truncated record at byte " << at;
    if (at + 12 + length + 4 > bytes.size()) break;
    std::string data = bytes.substr(at + 12, length);
    const std::uint32_t crc = crc32c(data);
    EXPECT_EQ(load<std::uint32_t>(bytes, at + 12 + length), ((crc >> 15) | (crc << 17)) + 0xa282ead8u)
        << "data CRC of the record at byte " << at;
    records.push_back(std::move(data));
    at += 12 + length + 4;
  }
  return records;
}

// One protobuf field: its value as a varint, a fixed 32/64-bit word or bytes (a string or a nested message).
struct Field {
  int wire = -1;
  std::uint64_t number = 0;  // varint, fixed64 and fixed32 values
  std::string bytes;
};
using Message = std::multimap<std::uint32_t, Field>;

inline std::uint64_t read_varint(const std::string& data, std::size_t& at) {
  std::uint64_t value = 0;
  for (int shift = 0; at < data.size(); shift += 7) {
    const auto byte = static_cast<unsigned char>(data[at++]);
    value |= static_cast<std::uint64_t>(byte & 0x7F) << shift;
    if (!(byte & 0x80)) return value;
  }
  ADD_FAILURE() << "varint runs past the end";
  return value;
}

inline Message parse(const std::string& data) {
  Message message;
  std::size_t at = 0;
  while (at < data.size()) {
    const std::uint64_t key = read_varint(data, at);
    Field field;
    field.wire = static_cast<int>(key & 7);
    if (field.wire == 0) {
      field.number = read_varint(data, at);
    } else if (field.wire == 1 || field.wire == 5) {
      const std::size_t size = field.wire == 1 ? 8 : 4;
      if (at + size > data.size()) return ADD_FAILURE() << "fixed field past the end", message;
      std::memcpy(&field.number, data.data() + at, size);
      at += size;
    } else if (field.wire == 2) {
      const std::uint64_t size = read_varint(data, at);
      if (at + size > data.size()) return ADD_FAILURE() << "bytes field past the end", message;
      field.bytes = data.substr(at, size);
      at += size;
    } else {
      ADD_FAILURE() << "unexpected wire type " << field.wire;
      return message;
    }
    message.emplace(static_cast<std::uint32_t>(key >> 3), field);
  }
  return message;
}

inline const Field& only(const Message& message, std::uint32_t number, int wire) {
  static const Field missing;
  EXPECT_EQ(message.count(number), 1u) << "field " << number;
  const auto it = message.find(number);
  if (it == message.end()) return missing;
  EXPECT_EQ(it->second.wire, wire) << "wire type of field " << number;
  return it->second;
}

inline double as_double(const Field& field) { return std::bit_cast<double>(field.number); }
inline float as_float(const Field& field) { return std::bit_cast<float>(static_cast<std::uint32_t>(field.number)); }

struct Scalar {
  double wall_time;
  std::int64_t step;
  std::string tag;
  float value;
};

inline Scalar decode_scalar(const std::string& record) {
  const Message event = parse(record);
  const Message summary = parse(only(event, 5, 2).bytes);
  const Message value = parse(only(summary, 1, 2).bytes);
  return {as_double(only(event, 1, 1)), static_cast<std::int64_t>(only(event, 2, 0).number), only(value, 1, 2).bytes,
          as_float(only(value, 2, 5))};
}

}  // namespace edat::testing
