// TensorBoard event files: CRC-32C vectors, then files read back by a small TFRecord + protobuf reader written here
// independently of the writer (framing, both CRCs, every field).
#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "tests/test_util.h"
#include "tests/track_test_util.h"
#include "track/crc32c.h"
#include "track/tensorboard.h"

namespace fs = std::filesystem;
using edat::track::crc32c;
using edat::track::EventWriter;
using edat::testing::read_file_bytes;
using edat::testing::scratch_dir;

namespace {

template <class T>
T load(const std::string& bytes, std::size_t offset) {
  T value;
  std::memcpy(&value, bytes.data() + offset, sizeof(T));
  return value;
}

// Splits a TFRecord stream into its records, checking both masked CRCs; fails the test on any framing error.
std::vector<std::string> read_records(const std::string& bytes) {
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

std::uint64_t read_varint(const std::string& data, std::size_t& at) {
  std::uint64_t value = 0;
  for (int shift = 0; at < data.size(); shift += 7) {
    const auto byte = static_cast<unsigned char>(data[at++]);
    value |= static_cast<std::uint64_t>(byte & 0x7F) << shift;
    if (!(byte & 0x80)) return value;
  }
  ADD_FAILURE() << "varint runs past the end";
  return value;
}

Message parse(const std::string& data) {
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

const Field& only(const Message& message, std::uint32_t number, int wire) {
  static const Field missing;
  EXPECT_EQ(message.count(number), 1u) << "field " << number;
  const auto it = message.find(number);
  if (it == message.end()) return missing;
  EXPECT_EQ(it->second.wire, wire) << "wire type of field " << number;
  return it->second;
}

double as_double(const Field& field) { return std::bit_cast<double>(field.number); }
float as_float(const Field& field) { return std::bit_cast<float>(static_cast<std::uint32_t>(field.number)); }

struct Scalar {
  double wall_time;
  std::int64_t step;
  std::string tag;
  float value;
};

Scalar decode_scalar(const std::string& record) {
  const Message event = parse(record);
  const Message summary = parse(only(event, 5, 2).bytes);
  const Message value = parse(only(summary, 1, 2).bytes);
  return {as_double(only(event, 1, 1)), static_cast<std::int64_t>(only(event, 2, 0).number), only(value, 1, 2).bytes,
          as_float(only(value, 2, 5))};
}

std::vector<fs::path> event_files(const fs::path& dir) {
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir)) files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace

// RFC 3720 (iSCSI) appendix B.4 and the usual check value.
TEST(Crc32c, ReferenceVectors) {
  EXPECT_EQ(crc32c("123456789"), 0xE3069283u);
  EXPECT_EQ(crc32c(""), 0u);
  EXPECT_EQ(crc32c(std::string(32, '\0')), 0x8A9136AAu);
  EXPECT_EQ(crc32c(std::string(32, '\xFF')), 0x62A8AB43u);
  std::string ascending, descending;
  for (int i = 0; i < 32; ++i) ascending += static_cast<char>(i), descending += static_cast<char>(31 - i);
  EXPECT_EQ(crc32c(ascending), 0x46DD794Eu);
  EXPECT_EQ(crc32c(descending), 0x113FDB5Cu);
  // Continued over pieces (checkpoint checksums run tensor by tensor): the same as over the whole.
  EXPECT_EQ(crc32c("6789", 4, crc32c("12345")), 0xE3069283u);
  EXPECT_EQ(crc32c("", 0, crc32c("123456789")), 0xE3069283u);
}

TEST(Crc32c, MaskRoundTrips) {
  for (std::uint32_t crc : {0u, 1u, 0xE3069283u, 0xFFFFFFFFu}) {
    EXPECT_EQ(edat::track::unmask_crc(edat::track::mask_crc(crc)), crc);
    EXPECT_EQ(edat::track::mask_crc(crc), ((crc >> 15) | (crc << 17)) + 0xa282ead8u);
  }
}

TEST(EventWriter, WritesVersionThenScalars) {
  const fs::path dir = scratch_dir("scalars") / "run1";  // the writer creates missing folders
  const double before = edat::track::unix_seconds();
  {
    EventWriter writer(dir.string());
    writer.add_scalar("loss/train", 1.5, 1, 1000.25);
    writer.add_scalar("mae/valid", 0.1, 1, 1000.5);
    writer.add_scalar("lr", 3e-4, 123456789012LL, 1001);
    writer.add_scalar("odd step", -2, -3, 1002);  // a negative int64 is a 10-byte varint
    writer.flush();
  }
  const auto files = event_files(dir);
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(files[0].filename().string().rfind("events.out.tfevents.", 0), 0u) << files[0];

  const auto records = read_records(read_file_bytes(files[0]));
  ASSERT_EQ(records.size(), 5u);
  const Message version = parse(records[0]);
  EXPECT_EQ(only(version, 3, 2).bytes, "brain.Event:2");
  EXPECT_GE(as_double(only(version, 1, 1)), before - 1);
  EXPECT_LE(as_double(only(version, 1, 1)), edat::track::unix_seconds() + 1);

  const std::vector<Scalar> expected = {{1000.25, 1, "loss/train", 1.5f},
                                        {1000.5, 1, "mae/valid", 0.1f},
                                        {1001, 123456789012LL, "lr", 3e-4f},
                                        {1002, -3, "odd step", -2.0f}};
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const Scalar got = decode_scalar(records[i + 1]);
    EXPECT_EQ(got.tag, expected[i].tag);
    EXPECT_EQ(got.step, expected[i].step) << got.tag;
    EXPECT_EQ(got.value, expected[i].value) << got.tag;
    EXPECT_EQ(got.wall_time, expected[i].wall_time) << got.tag;
  }
}

// TensorBoard reads the file while training runs: after flush() the records are on disk, the writer still open.
TEST(EventWriter, FlushMakesScalarsVisible) {
  const fs::path dir = scratch_dir("live");
  EventWriter writer(dir.string());
  writer.add_scalar("loss", 2.0, 0);
  writer.flush();
  EXPECT_EQ(read_records(read_file_bytes(writer.path())).size(), 2u);
  writer.add_scalar("loss", 1.0, 1);
  writer.flush();
  const auto records = read_records(read_file_bytes(writer.path()));
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(decode_scalar(records[2]).value, 1.0f);
  EXPECT_EQ(decode_scalar(records[2]).step, 1);
}

TEST(EventWriter, ReaderCatchesACorruptedByte) {  // the reader above must be able to fail
  const fs::path dir = scratch_dir("corrupt");
  std::string path;
  {
    EventWriter writer(dir.string());
    writer.add_scalar("loss", 2.0, 0);
    path = writer.path();
  }
  std::string bytes = read_file_bytes(path);
  bytes[bytes.size() - 6] ^= 0x01;  // inside the last record's data
  ::testing::TestPartResultArray failures;
  {
    ::testing::ScopedFakeTestPartResultReporter reporter(
        ::testing::ScopedFakeTestPartResultReporter::INTERCEPT_ONLY_CURRENT_THREAD, &failures);
    read_records(bytes);
  }
  ASSERT_EQ(failures.size(), 1);
  EXPECT_NE(std::string(failures.GetTestPartResult(0).message()).find("data CRC"), std::string::npos);
}

TEST(EventWriter, NeverOverwritesAnEarlierFile) {
  const fs::path dir = scratch_dir("two");
  EventWriter first(dir.string());
  EventWriter second(dir.string());  // most likely within the same second, so the same base name
  EXPECT_NE(first.path(), second.path());
  EXPECT_EQ(event_files(dir).size(), 2u);
}

TEST(EventWriter, UnwritableLogdirNamesThePath) {
  const fs::path file = scratch_dir("not_a_dir") / "plain_file";
  std::ofstream(file) << "x";
  EXPECT_TRUE(edat::testing::throws_with([&] { EventWriter writer(file.string()); },
                                         {"cannot create the log directory", file.string()}));
  EXPECT_TRUE(edat::testing::throws_with([&] { EventWriter writer((file / "sub").string()); },
                                         {"cannot create", (file / "sub").string()}));
}

TEST(EventWriter, EmptyTagIsAnError) {
  EventWriter writer(scratch_dir("empty_tag").string());
  EXPECT_TRUE(edat::testing::throws_with([&] { writer.add_scalar("", 1, 0); }, {"tag is empty"}));
}
