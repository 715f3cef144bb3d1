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

#include "tests/tensorboard_reader.h"
#include "tests/test_util.h"
#include "tests/track_test_util.h"
#include "track/crc32c.h"
#include "track/tensorboard.h"

namespace fs = std::filesystem;
using edat::track::crc32c;
using edat::track::EventWriter;
using edat::testing::read_file_bytes;
using edat::testing::scratch_dir;
using namespace edat::testing;  // the event-file reader (tests/tensorboard_reader.h)

namespace {

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
