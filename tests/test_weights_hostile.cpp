// Hostile weight files, each the kind an independent probe found harmful (issue 14): views whose bounds overflow,
// pickles nested millions deep or holding themselves, sizes claimed but not present, tensors that repeat a small
// storage into gigabytes, headers nested deep. Each must be an edat::Error naming the file, never a crash, a huge
// allocation or a silent read. The files are written by the tests (tests/pth_builder.h).
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>

#include "tests/pth_builder.h"
#include "tests/test_util.h"
#include "weights/pickle.h"
#include "weights/pth.h"
#include "weights/safetensors.h"

using namespace edat;
using edat::testing::throws_with;
using edat::testing::pth::PickleWriter;
namespace fs = std::filesystem;

namespace {

std::string fixture(const std::string& name) { return std::string(EDAT_WEIGHT_FIXTURES) + "/" + name; }

std::string temp_path(const std::string& name) {
  static const fs::path dir = [] {
    fs::path d = fs::temp_directory_path() / ("edat_test_weights_hostile_" + std::to_string(::getpid()));
    fs::create_directories(d);
    return d;
  }();
  return (dir / name).string();
}
struct RemoveTempDir : ::testing::Environment {
  void TearDown() override {
    std::error_code ignored;
    fs::remove_all(fs::path(temp_path("x")).parent_path(), ignored);
  }
};
[[maybe_unused]] const auto* const temp_env = ::testing::AddGlobalTestEnvironment(new RemoveTempDir);

std::string write_file(const std::string& name, const std::string& bytes) {
  const std::string path = temp_path(name);
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}
std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

pickle::ValuePtr unpickle(const std::string& bytes, const pickle::Hooks& hooks = {}) {
  std::size_t pos = 0;
  const std::vector<std::uint8_t> data(bytes.begin(), bytes.end());
  return pickle::unpickle(data, pos, hooks, "hostile.pkl");
}

// A legacy .pth of one float tensor 'w' of `size` / `stride` / `offset` over a storage of `numel` elements
// (`view` set: a storage view (offset, size) as torch < 1.6 wrote for slices); the data holds `numel` floats.
struct TensorSpec {
  Shape size{4}, stride{1};
  std::int64_t offset = 0, numel = 4;
  std::optional<std::pair<std::int64_t, std::int64_t>> view;
};
std::string legacy_pth(const std::string& name, const TensorSpec& t) {
  using namespace edat::testing::pth;
  return write_file(name, legacy_file(one_tensor_pickle(t.size, t.stride, t.offset, t.numel, t.view), {"0"},
                                      {std::string(static_cast<std::size_t>(t.numel) * 4, '\0')}, {t.numel}));
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------------
// item 1: view bounds with checked arithmetic

TEST(HostilePth, StorageViewWhoseEndOverflowsIsRefused) {
  // offset 2^62 + 16 plus size 2^62 wraps below the storage's 4 elements when added in 64-bit signed arithmetic.
  const std::int64_t big = std::int64_t{1} << 62;
  const std::string path = legacy_pth("view_overflow.pth", {.view = std::pair{big + 16, big}});
  EXPECT_TRUE(throws_with([&] { weights::read_pth(path); },
                          {path, "storage '0': view [" + std::to_string(big + 16), "beyond its 4 elements"}));
}

TEST(HostilePth, ViewsWithinTheirStorageStillRead) {
  // The check is not stricter than it must be: a view of the storage's last 2 elements reads.
  const std::string path = legacy_pth("view_tail.pth", {.size = {2}, .view = std::pair{2, 2}});
  const auto tensors = weights::read_pth(path);
  ASSERT_EQ(tensors.size(), 1u);
  EXPECT_EQ(tensors[0].second.shape(), Shape{2});
}

TEST(HostilePth, TensorReachingPastItsStorageIsRefused) {
  const std::int64_t big = std::int64_t{1} << 62;
  for (const TensorSpec& spec : {TensorSpec{.offset = big}, TensorSpec{.size = {2, 2}, .stride = {big, 1}},
                                 TensorSpec{.size = {5}}, TensorSpec{.offset = 1}}) {
    const std::string path = legacy_pth("reach.pth", spec);
    EXPECT_TRUE(throws_with([&] { weights::read_pth(path); }, {path, "key 'w'", "of a storage of 4"}))
        << shape_str(spec.size) << " offset " << spec.offset;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// item 3: sizes a file claims are proven before they are allocated

TEST(HostilePth, StrideZeroViewCannotExpandIntoGigabytes) {
  // 4 stored floats repeated 2^30 times would take 4 GiB.
  const std::string path = legacy_pth("stride0.pth", {.size = {1 << 15, 1 << 15}, .stride = {0, 0}});
  EXPECT_TRUE(throws_with([&] { weights::read_pth(path); },
                          {path, "key 'w'", "repeats the 4 elements of its storage beyond the limit"}));
  // A modest repetition (a broadcast bias) still reads.
  const std::string fine = legacy_pth("stride0_small.pth", {.size = {1000, 4}, .stride = {0, 1}});
  EXPECT_EQ(weights::read_pth(fine)[0].second.shape(), (Shape{1000, 4}));
}

TEST(HostilePth, ZipEntryClaimingMoreThanTheArchiveIsRefused) {
  // mixed.pth with the central directory's size of data.pkl raised to 0xF0000000 bytes (the archive has 8 KB).
  std::string bytes = read_file(fixture("mixed.pth"));
  const std::string name = "mixed/data.pkl";
  const std::string central_signature("PK\x01\x02", 4);
  std::size_t at = bytes.find(central_signature);
  while (at != std::string::npos && bytes.compare(at + 46, name.size(), name) != 0)
    at = bytes.find(central_signature, at + 1);
  ASSERT_NE(at, std::string::npos);
  const std::uint32_t claimed = 0xF0000000u;
  std::memcpy(bytes.data() + at + 24, &claimed, 4);  // uncompressed size
  const std::string path = write_file("claims_4gb.pth", bytes);
  EXPECT_TRUE(throws_with([&] { weights::read_pth(path); },
                          {path, "'mixed/data.pkl' claims 4026531840 bytes, more than an archive of"}));
}

// ---------------------------------------------------------------------------------------------------------------
// items 2 and 4: nesting and self-reference in pickles

TEST(HostilePickle, MillionsOfNestedListsAreRefusedWithoutOverflowingTheStack) {
  // 2 million EMPTY_LISTs, then 2 million - 1 APPENDs: each list appended into the one below it.
  constexpr int depth = 2'000'000;
  PickleWriter p;
  p.proto();
  for (int i = 0; i < depth; ++i) p.op(0x5d);
  for (int i = 1; i < depth; ++i) p.op(0x61);
  p.stop();
  EXPECT_TRUE(throws_with([&] { unpickle(p.bytes); }, {"hostile.pkl", "nests containers more than 64 deep"}));
  // The same inside a legacy .pth: refused naming the file.
  const std::string path =
      write_file("nested.pth", edat::testing::pth::legacy_file(p.bytes, {}, {}, {}));
  EXPECT_TRUE(throws_with([&] { weights::read_pth(path); }, {path, "nests containers more than 64 deep"}));
}

TEST(HostilePickle, NestingUpToTheLimitReads) {
  PickleWriter p;
  p.proto();
  for (std::size_t i = 0; i < pickle::max_nesting; ++i) p.op(0x5d);
  for (std::size_t i = 1; i < pickle::max_nesting; ++i) p.op(0x61);
  p.stop();
  EXPECT_EQ(unpickle(p.bytes)->kind, pickle::Value::Kind::list);
}

TEST(HostilePickle, AListHoldingItselfIsRefusedAndFreed) {
  // A list from the hook (so the test can watch it) put in the memo, fetched and appended to itself.
  std::weak_ptr<pickle::Value> watched;
  pickle::Hooks hooks;
  hooks.persistent_load = [&](const pickle::ValuePtr&) {
    auto list = pickle::Value::make(pickle::Value::Kind::list);
    watched = list;
    return list;
  };
  auto self_append = [](bool stop_on_it) {
    PickleWriter p;
    p.proto();
    p.none();
    p.op(0x51);                   // BINPERSID: the hook's list
    p.op(0x71), p.byte(0);        // BINPUT 0
    p.op(0x68), p.byte(0);        // BINGET 0
    p.op(0x61);                   // APPEND: the list now holds itself
    if (!stop_on_it) p.op(0x30), p.none();  // POP it: only the memo (and itself) still hold it
    p.stop();
    return p.bytes;
  };
  for (bool stop_on_it : {true, false}) {
    EXPECT_TRUE(throws_with([&] { unpickle(self_append(stop_on_it), hooks); }, {"hostile.pkl", "contains itself"}));
    EXPECT_TRUE(watched.expired()) << "the self-holding list leaked";
  }
  // A failure half-way (truncated after the APPEND) frees it too.
  std::string cut = self_append(true);
  cut.pop_back();
  EXPECT_TRUE(throws_with([&] { unpickle(cut, hooks); }, {"hostile.pkl", "truncated pickle"}));
  EXPECT_TRUE(watched.expired()) << "the self-holding list leaked";
}

TEST(HostilePickle, SharedValuesAreNotCycles) {
  // The same list twice in a tuple (a diamond through the memo) is fine.
  PickleWriter p;
  p.proto();
  p.op(0x5d), p.op(0x71), p.byte(0);  // EMPTY_LIST, BINPUT 0
  p.op(0x68), p.byte(0);              // BINGET 0
  p.op(0x86);                         // TUPLE2
  p.stop();
  const auto top = unpickle(p.bytes);
  ASSERT_EQ(top->items.size(), 2u);
  EXPECT_EQ(top->items[0], top->items[1]);
}

// ---------------------------------------------------------------------------------------------------------------
// safetensors: deep JSON and shapes that do not fit

std::string safetensors_bytes(std::string header, const std::string& data) {
  header.append((8 - header.size() % 8) % 8, ' ');
  std::string bytes(8, '\0');
  const std::uint64_t n = header.size();
  std::memcpy(bytes.data(), &n, 8);
  return bytes + header + data;
}

TEST(HostileSafetensors, DeeplyNestedHeaderIsRefusedWithoutDumpingIt) {
  // 200,000 nested arrays where a shape belongs: the message describes it instead of printing it.
  const std::string deep = std::string(200'000, '[') + std::string(200'000, ']');
  const std::string path = write_file(
      "deep.safetensors", safetensors_bytes(R"({"x":{"dtype":"F32","shape":[2],"data_offsets":)" + deep + "}}", ""));
  EXPECT_TRUE(throws_with([&] { weights::read_safetensors(path); },
                          {path, "key 'x': data_offsets is an array of 1, not [begin, end]"}));
  const std::string entry = write_file("deep_entry.safetensors", safetensors_bytes(R"({"x":)" + deep + "}", ""));
  EXPECT_TRUE(throws_with([&] { weights::read_safetensors(entry); }, {entry, "key 'x'", "got an array of 1"}));
}

TEST(HostileSafetensors, EmptyShapeWithAHugeDimensionNamesTheFile) {
  const std::string path = write_file(
      "huge_dim.safetensors",
      safetensors_bytes(R"({"x":{"dtype":"F32","shape":[0,18446744073709551615],"data_offsets":[0,0]}})", ""));
  EXPECT_TRUE(throws_with([&] { weights::read_safetensors(path); }, {path, "key 'x': shape is too large"}));
}
