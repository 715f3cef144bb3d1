// Weight files: safetensors round trips and byte-for-byte agreement with Python's writer, .pth state dicts (zip and
// legacy formats) against the values PyTorch saved, the unpickler, bad input of every kind, and loading pretrained
// weights into a model with a new head. Fixtures: tests/fixtures/weights/, made by scripts/fixtures_weights.py.
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "tensor/backend.h"
#include "tensor/factory.h"
#include "tests/test_util.h"
#include "weights/pickle.h"
#include "weights/pretrained.h"
#include "weights/pth.h"
#include "weights/read_weights.h"
#include "weights/safetensors.h"

using namespace edat;
using edat::testing::throws_with;
namespace fs = std::filesystem;

namespace {

std::string fixture(const std::string& name) { return std::string(EDAT_WEIGHT_FIXTURES) + "/" + name; }

// Files written by the tests go to a folder of this process, removed when the tests end.
const fs::path& temp_dir() {
  static const fs::path dir = fs::temp_directory_path() / ("edat_test_weights_" + std::to_string(::getpid()));
  return dir;
}
struct TempDirEnvironment : ::testing::Environment {
  void SetUp() override { fs::create_directories(temp_dir()); }
  void TearDown() override {
    std::error_code ignored;
    fs::remove_all(temp_dir(), ignored);
  }
};
[[maybe_unused]] const auto* const temp_env = ::testing::AddGlobalTestEnvironment(new TempDirEnvironment);

std::string temp_path(const std::string& name) { return (temp_dir() / name).string(); }

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}
std::string write_bytes(const std::string& name, const std::string& bytes) {
  const std::string path = temp_path(name);
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

// A safetensors file from a header (padded here) and data.
std::string safetensors_file(const std::string& name, std::string header, const std::string& data) {
  header.append((8 - header.size() % 8) % 8, ' ');
  std::string bytes(8, '\0');
  const std::uint64_t n = header.size();
  std::memcpy(bytes.data(), &n, 8);
  return write_bytes(name, bytes + header + data);
}

const Tensor& find(const nn::NamedTensors& tensors, const std::string& key) {
  for (const auto& [name, tensor] : tensors)
    if (name == key) return tensor;
  throw Error("no tensor named " + key);
}

std::vector<std::string> keys(const nn::NamedTensors& tensors) {
  std::vector<std::string> out;
  for (const auto& [name, tensor] : tensors) out.push_back(name);
  return out;
}

// Same shape, dtype and bytes.
::testing::AssertionResult identical(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape() || a.dtype() != b.dtype())
    return ::testing::AssertionFailure() << a.desc() << " vs " << b.desc();
  if (std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()) != 0)
    return ::testing::AssertionFailure() << "the values of " << a.desc() << " differ";
  return ::testing::AssertionSuccess();
}

// Every tensor of `expected` (but those named in `except`) is in `actual`, identical, and nothing else is.
void expect_same_tensors(const nn::NamedTensors& actual, const nn::NamedTensors& expected,
                         const std::vector<std::string>& except = {}) {
  std::size_t compared = 0;
  for (const auto& [name, tensor] : expected) {
    if (std::find(except.begin(), except.end(), name) != except.end()) continue;
    EXPECT_TRUE(identical(find(actual, name), tensor)) << name;
    ++compared;
  }
  EXPECT_EQ(actual.size(), compared);
}

Tensor i64_tensor(const std::vector<std::int64_t>& values, const Shape& shape) {
  Tensor t = empty(shape, {.dtype = DType::i64});
  std::copy(values.begin(), values.end(), t.data<std::int64_t>());
  return t;
}

// ---------------------------------------------------------------------------------------------------------------
// safetensors

TEST(Safetensors, RoundTripOfEveryDtype) {
  const nn::NamedTensors tensors = {
      {"conv.weight", from_vector({1.5, -2.25, 3e-8, 1e30, -0.0, 7}, {2, 3})},
      {"f64", from_vector({1.0 / 3, -1e-300, 2.5}, {3}, {.dtype = DType::f64})},
      {"bf16", from_vector({1.0, -0.5, 3.140625, 65280}, {2, 2}, {.dtype = DType::bf16})},
      {"counts", i64_tensor({-3, 0, std::int64_t{1} << 40, -(std::int64_t{1} << 62)}, {4})},
      {"bn.num_batches_tracked", i64_tensor({100}, {})},
      {"scalar", scalar_tensor(0.125)},
      {"empty", zeros({0, 3})},
  };
  const std::string path = temp_path("round_trip.safetensors");
  weights::write_safetensors(path, tensors, {{"format", "pt"}, {"note", "é \"quoted\""}});

  const weights::SafetensorsContents read = weights::read_safetensors_with_metadata(path);
  expect_same_tensors(read.tensors, tensors);
  EXPECT_EQ(read.metadata, (std::map<std::string, std::string>{{"format", "pt"}, {"note", "é \"quoted\""}}));
  // Python's order: I64, then F64, F32, BF16, each by name; the header padded to 8 bytes.
  EXPECT_EQ(keys(read.tensors), (std::vector<std::string>{"bn.num_batches_tracked", "counts", "f64", "conv.weight",
                                                          "empty", "scalar", "bf16"}));
  const std::string bytes = read_bytes(path);
  std::uint64_t header_size;
  std::memcpy(&header_size, bytes.data(), 8);
  EXPECT_EQ(header_size % 8, 0u);
  EXPECT_EQ(bytes.substr(8, 16), "{\"__metadata__\":");

  EXPECT_EQ(weights::read_safetensors(path).size(), tensors.size());
  EXPECT_EQ(weights::read_weights(path).size(), tensors.size());
}

TEST(Safetensors, WritesTheBytesPythonWrites) {
  // python_writer.safetensors is byte for byte what safetensors.torch.save_file writes (checked by the script).
  const std::string reference = fixture("python_writer.safetensors");
  const weights::SafetensorsContents contents = weights::read_safetensors_with_metadata(reference);
  EXPECT_EQ(contents.tensors.size(), 6u);
  EXPECT_EQ(contents.metadata.at("format"), "pt");
  const std::string path = temp_path("like_python.safetensors");
  weights::write_safetensors(path, contents.tensors, contents.metadata);
  EXPECT_EQ(read_bytes(path), read_bytes(reference));
}

TEST(Safetensors, ReadsF16AsF32) {
  const nn::NamedTensors expected = weights::read_safetensors(fixture("mixed_expected.safetensors"));
  // f16_raw is stored as F16; f16 holds torch's own conversion of the same values to f32.
  EXPECT_TRUE(identical(find(expected, "f16_raw"), find(expected, "f16")));
  EXPECT_EQ(find(expected, "f16_raw").dtype(), DType::f32);
}

TEST(Safetensors, WriteIsAtomicAndChecked) {
  const std::string path = temp_path("atomic.safetensors");
  weights::write_safetensors(path, {{"a", ones({2})}});
  const std::string before = read_bytes(path);
  EXPECT_TRUE(throws_with(
      [&] {
        weights::write_safetensors(path, {{"a", ones({2})}, {"a", zeros({2})}});
      },
      {path, "key 'a' appears twice"}));
  EXPECT_TRUE(throws_with(
      [&] {
        weights::write_safetensors(path, {{"a", ones({2})}, {"b", Tensor()}});
      },
      {path, "'b' is undefined"}));
  EXPECT_TRUE(throws_with([&] { weights::write_safetensors(path, {{"__metadata__", ones({2})}}); }, {path}));
  EXPECT_EQ(read_bytes(path), before);  // untouched by the failed writes
  for (const auto& entry : fs::directory_iterator(temp_dir()))
    EXPECT_EQ(entry.path().string().find(".tmp-"), std::string::npos) << entry.path();
  const std::string nowhere = temp_path("no/such/folder/x.safetensors");
  EXPECT_TRUE(throws_with([&] { weights::write_safetensors(nowhere, {{"a", ones({2})}}); }, {nowhere}));
}

TEST(Safetensors, WritesCudaTensors) {
  EDAT_REQUIRE_CUDA();
  const Tensor cpu = from_vector({1, 2, 3});
  const std::string path = temp_path("cuda.safetensors");
  weights::write_safetensors(path, {{"x", cpu.cuda()}, {"y", cpu.to(DType::bf16).cuda()}});
  const nn::NamedTensors read = weights::read_safetensors(path);
  EXPECT_TRUE(identical(find(read, "x"), cpu));
  EXPECT_TRUE(identical(find(read, "y"), cpu.to(DType::bf16)));
}

// ---------------------------------------------------------------------------------------------------------------
// .pth state dicts

// The order of the state dict in scripts/fixtures_weights.py.
std::vector<std::string> mixed_keys() {
  std::vector<std::string> out = {"f32",   "f64",        "f16",     "bf16",     "i64",      "scalar_f32", "scalar_i64",
                                  "param", "transposed", "strided", "shared_a", "shared_b", "empty"};
  for (int i = 0; i < 60; ++i) out.push_back("many." + std::to_string(i));
  return out;
}

TEST(Pth, ZipFormatMatchesPyTorch) {
  const nn::NamedTensors read = weights::read_pth(fixture("mixed.pth"));
  EXPECT_EQ(keys(read), mixed_keys());
  expect_same_tensors(read, weights::read_safetensors(fixture("mixed_expected.safetensors")), {"f16_raw"});
  EXPECT_EQ(find(read, "bf16").dtype(), DType::bf16);
  EXPECT_EQ(find(read, "f16").dtype(), DType::f32);
  EXPECT_EQ(find(read, "scalar_i64").dim(), 0);
  EXPECT_EQ(find(read, "scalar_i64").to_vector<std::int64_t>(), std::vector<std::int64_t>{12345});
  EXPECT_EQ(find(read, "i64").to_vector<std::int64_t>()[4], -(std::int64_t{1} << 62));
  EXPECT_EQ(find(read, "many.59").to_vector<std::int64_t>(), std::vector<std::int64_t>{59});
  EXPECT_EQ(find(read, "empty").shape(), (Shape{0, 70000}));
}

TEST(Pth, LegacyFormatMatchesPyTorch) {
  const nn::NamedTensors read = weights::read_pth(fixture("mixed_legacy.pth"));
  EXPECT_EQ(keys(read), mixed_keys());
  expect_same_tensors(read, weights::read_safetensors(fixture("mixed_expected.safetensors")), {"f16_raw"});
}

TEST(Pth, TinyResNetInBothFormats) {
  const nn::NamedTensors expected = weights::read_safetensors(fixture("tiny_resnet_expected.safetensors"));
  for (const char* name : {"tiny_resnet.pth", "tiny_resnet_legacy.pth"}) {
    SCOPED_TRACE(name);
    const nn::NamedTensors read = weights::read_pth(fixture(name));
    EXPECT_EQ(read.front().first, "conv1.weight");
    EXPECT_EQ(read.back().first, "fc.bias");
    expect_same_tensors(read, expected);
    expect_same_tensors(weights::read_weights(fixture(name)), expected);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// the unpickler

std::vector<std::uint8_t> from_hex(const std::string& hex) {
  std::vector<std::uint8_t> out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
    out.push_back(static_cast<std::uint8_t>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  return out;
}

// pickle.dumps({'a': [1, -2, 300, 70000, 2**40, -(2**70), 1.5, True, False, None, b'xy', (1, 2, 3, 4), 'é'],
//               'b': ((),), 'c': <the same list>}, protocol=4)
const char* const protocol4_hex =
    "8004955d000000000000007d94288c0161945d94284b014afeffffff4d2c014a701101008a060000000000018a090000000000000000c04"
    "73ff800000000000088894e4302787994284b014b024b034b0474948c02c3a994658c0162942985948c0163946802752e";

TEST(Pickle, ReadsProtocol4Values) {
  const std::vector<std::uint8_t> data = from_hex(protocol4_hex);
  std::size_t pos = 0;
  const pickle::ValuePtr top = pickle::unpickle(data, pos, {}, "test");
  EXPECT_EQ(pos, data.size());
  using Kind = pickle::Value::Kind;
  ASSERT_EQ(top->kind, Kind::dict);
  ASSERT_EQ(top->entries.size(), 3u);
  EXPECT_EQ(top->entries[0].first->text, "a");
  const auto& a = top->entries[0].second->items;
  ASSERT_EQ(a.size(), 13u);
  EXPECT_EQ(a[0]->integer, 1);
  EXPECT_EQ(a[1]->integer, -2);
  EXPECT_EQ(a[2]->integer, 300);
  EXPECT_EQ(a[3]->integer, 70000);
  EXPECT_EQ(a[4]->integer, std::int64_t{1} << 40);
  EXPECT_EQ(a[5]->kind, Kind::integer);
  EXPECT_EQ(a[5]->text.size(), 9u);  // beyond 64 bits: its LONG1 bytes
  EXPECT_EQ(a[6]->floating, 1.5);
  EXPECT_TRUE(a[7]->boolean);
  EXPECT_FALSE(a[8]->boolean);
  EXPECT_EQ(a[9]->kind, Kind::none);
  EXPECT_EQ(a[10]->kind, Kind::bytes);
  EXPECT_EQ(a[10]->text, "xy");
  EXPECT_EQ(a[11]->items.size(), 4u);
  EXPECT_EQ(a[12]->text, "\xc3\xa9");
  EXPECT_EQ(top->entries[1].second->describe(), "tuple of 1");
  EXPECT_EQ(top->entries[2].second, top->entries[0].second);  // the memo shares values
}

TEST(Pickle, GlobalsAreCalledThroughTheHook) {
  // PROTO 4, 'collections', 'OrderedDict', STACK_GLOBAL, EMPTY_TUPLE, REDUCE, STOP
  const std::vector<std::uint8_t> data = from_hex("80048c0b636f6c6c656374696f6e738c0b4f726465726564446963749329522e");
  std::string called;
  pickle::Hooks hooks;
  hooks.call = [&](const pickle::ValuePtr& callable, const pickle::ValuePtr& args) {
    called = callable->text + "/" + args->describe();
    return pickle::Value::make(pickle::Value::Kind::dict);
  };
  std::size_t pos = 0;
  EXPECT_EQ(pickle::unpickle(data, pos, hooks, "test")->kind, pickle::Value::Kind::dict);
  EXPECT_EQ(called, "collections.OrderedDict/tuple of 0");
  pos = 0;
  EXPECT_TRUE(throws_with([&] { pickle::unpickle(data, pos, {}, "test.pkl"); },
                          {"test.pkl", "cannot call global collections.OrderedDict"}));
}

TEST(Pickle, EveryTruncationIsAClearError) {
  const std::vector<std::uint8_t> data = from_hex(protocol4_hex);
  for (std::size_t cut = 0; cut < data.size(); ++cut) {
    const std::vector<std::uint8_t> part(data.begin(), data.begin() + static_cast<std::ptrdiff_t>(cut));
    std::size_t pos = 0;
    EXPECT_TRUE(throws_with([&] { pickle::unpickle(part, pos, {}, "cut.pkl"); }, {"cut.pkl: truncated pickle"}))
        << "cut at " << cut;
  }
}

TEST(Pickle, MalformedInput) {
  auto fails = [](const std::string& hex, std::initializer_list<std::string> parts) {
    const std::vector<std::uint8_t> data = from_hex(hex);
    std::size_t pos = 0;
    return throws_with([&] { pickle::unpickle(data, pos, {}, "bad.pkl"); }, parts);
  };
  EXPECT_TRUE(fails("80028f2e", {"bad.pkl: unsupported pickle opcode 0x8f ('EMPTY_SET') at byte 2"}));
  EXPECT_TRUE(fails("8002002e", {"unsupported pickle opcode 0x00 ('unknown') at byte 2"}));
  EXPECT_TRUE(fails("8002742e", {"MARK missing"}));                                    // TUPLE without MARK
  EXPECT_TRUE(fails("8002852e", {"stack underflow"}));                                 // TUPLE1 of nothing
  EXPECT_TRUE(fails("800268052e", {"memo index 5 was never stored"}));                 // BINGET 5
  EXPECT_TRUE(fails("80024b014b022e", {"malformed stack"}));                           // two values at STOP
  EXPECT_TRUE(fails("80025d4b014b02732e", {"not a dict"}));                            // SETITEM on a list
  EXPECT_TRUE(fails("8002586400000061", {"truncated pickle: needs 100 more bytes"}));  // BINUNICODE of 100
}

// ---------------------------------------------------------------------------------------------------------------
// bad input: every failure an edat::Error naming the file (and the key when there is one)

std::string truncated_copy(const std::string& source, std::size_t size, const std::string& name) {
  return write_bytes(name, read_bytes(source).substr(0, size));
}

TEST(BadInput, TruncatedSafetensors) {
  const std::string source = fixture("mixed_expected.safetensors");
  const std::string bytes = read_bytes(source);
  std::uint64_t header_size;
  std::memcpy(&header_size, bytes.data(), 8);
  for (std::size_t cut : {std::size_t{0}, std::size_t{5}, std::size_t{8}, std::size_t{20}, header_size + 7,
                          header_size + 8, header_size + 20, bytes.size() - 1}) {
    const std::string path = truncated_copy(source, cut, "cut.safetensors");
    EXPECT_TRUE(throws_with([&] { weights::read_safetensors(path); }, {path})) << "cut at " << cut;
  }
  const std::string path = truncated_copy(source, 100, "cut100.safetensors");
  EXPECT_TRUE(throws_with([&] { weights::read_safetensors(path); }, {path, "goes beyond the end of the file"}));
  const std::string short_data = truncated_copy(source, bytes.size() - 1, "cut_data.safetensors");
  EXPECT_TRUE(throws_with([&] { weights::read_safetensors(short_data); }, {short_data, "beyond the data section"}));
}

TEST(BadInput, TruncatedPth) {
  for (const char* name : {"mixed.pth", "mixed_legacy.pth"}) {
    const std::string source = fixture(name);
    const std::size_t size = read_bytes(source).size();
    for (std::size_t cut : {std::size_t{1}, std::size_t{4}, std::size_t{14}, std::size_t{40}, std::size_t{300},
                            size / 2, size - 100, size - 9, size - 1}) {
      const std::string path = truncated_copy(source, cut, std::string("cut_") + name);
      EXPECT_TRUE(throws_with([&] { weights::read_pth(path); }, {path})) << name << " cut at " << cut;
      EXPECT_TRUE(throws_with([&] { weights::read_weights(path); }, {path})) << name << " cut at " << cut;
    }
  }
  const std::string legacy = truncated_copy(fixture("mixed_legacy.pth"), 3000, "cut_legacy.pth");
  EXPECT_TRUE(throws_with([&] { weights::read_pth(legacy); }, {legacy, "truncated pickle"}));
  const std::size_t size = read_bytes(fixture("mixed_legacy.pth")).size();
  const std::string data = truncated_copy(fixture("mixed_legacy.pth"), size - 1, "cut_legacy_data.pth");
  EXPECT_TRUE(throws_with([&] { weights::read_pth(data); }, {data, "truncated: storage"}));
  const std::string zip = truncated_copy(fixture("mixed.pth"), size / 2, "cut_zip.pth");
  EXPECT_TRUE(throws_with([&] { weights::read_pth(zip); }, {zip, "cannot open as a zip archive"}));
}

TEST(BadInput, WrongMagic) {
  std::string bytes = read_bytes(fixture("mixed_legacy.pth"));
  bytes[6] ^= 0x10;
  const std::string path = write_bytes("wrong_magic.pth", bytes);
  EXPECT_TRUE(throws_with([&] { weights::read_pth(path); }, {path, "wrong magic number"}));
  const std::string text = write_bytes("text.pth", "hello, this is not a weight file");
  EXPECT_TRUE(throws_with([&] { weights::read_pth(text); }, {text, "wrong magic number"}));
  EXPECT_TRUE(throws_with([&] { weights::read_weights(text); }, {text, "not a safetensors or PyTorch .pth file"}));
  const std::string empty_file = write_bytes("empty.pth", "");
  EXPECT_TRUE(throws_with([&] { weights::read_weights(empty_file); }, {empty_file, "empty"}));
  const std::string missing = temp_path("missing.pth");
  EXPECT_TRUE(throws_with([&] { weights::read_weights(missing); }, {"cannot open '" + missing + "'"}));
}

TEST(BadInput, UnsupportedPickleOpcode) {
  // Legacy: the main pickle's EMPTY_TUPLE after GLOBAL 'collections OrderedDict' and BINPUT 0 becomes 0x8f.
  std::string bytes = read_bytes(fixture("mixed_legacy.pth"));
  static const char raw[] = "ccollections\nOrderedDict\nq\x00)";
  const std::string marker(raw, sizeof raw - 1);  // holds a NUL
  const std::size_t at = bytes.find(marker);
  ASSERT_NE(at, std::string::npos);
  const std::size_t opcode = at + marker.size() - 1;
  bytes[opcode] = '\x8f';
  const std::string path = write_bytes("bad_opcode_legacy.pth", bytes);
  EXPECT_TRUE(throws_with([&] { weights::read_pth(path); },
                          {path + ": unsupported pickle opcode 0x8f ('EMPTY_SET') at byte " + std::to_string(opcode)}));
  // Zip: the same patch inside data.pkl (the script rewrote the archive, so its CRCs hold).
  const std::string zip = fixture("bad_opcode.pth");
  EXPECT_TRUE(throws_with([&] { weights::read_pth(zip); },
                          {zip + ": mixed/data.pkl: unsupported pickle opcode 0x8f ('EMPTY_SET') at byte 29"}));
}

TEST(BadInput, UnsupportedStorageType) {
  const std::string path = fixture("int32.pth");
  EXPECT_TRUE(throws_with([&] { weights::read_pth(path); },
                          {path, "key 'ints'", "storage type torch.IntStorage is not supported"}));
}

TEST(BadInput, NotATorchZip) {
  const std::string garbage = write_bytes("garbage_zip.pth", "PK\x03\x04 but nothing else of a zip");
  EXPECT_TRUE(throws_with([&] { weights::read_pth(garbage); }, {garbage, "cannot open as a zip archive"}));
  const std::string no_pickle = fixture("no_pickle.pth");
  EXPECT_TRUE(throws_with([&] { weights::read_pth(no_pickle); }, {no_pickle, "no data.pkl"}));
}

TEST(BadInput, SafetensorsHeaders) {
  const std::string eight(8, '\0');
  auto fails = [](const std::string& path, std::initializer_list<std::string> parts) {
    return throws_with([&] { weights::read_safetensors(path); }, parts);
  };
  std::string p = safetensors_file("json.safetensors", "{\"x\": {\"dtype\": \"F32\",", eight);
  EXPECT_TRUE(fails(p, {p, "header is not valid JSON"}));
  p = safetensors_file("array.safetensors", "[1, 2]", "");
  EXPECT_TRUE(fails(p, {p, "does not start with '{'"}));
  p = safetensors_file("dtype.safetensors", R"({"x":{"dtype":"U8","shape":[8],"data_offsets":[0,8]}})", eight);
  EXPECT_TRUE(fails(p, {p, "key 'x': dtype U8 is not supported"}));
  p = safetensors_file("no_shape.safetensors", R"({"x":{"dtype":"F32","data_offsets":[0,8]}})", eight);
  EXPECT_TRUE(fails(p, {p, "key 'x': 'shape' is missing"}));
  p = safetensors_file("no_dtype.safetensors", R"({"x":{"shape":[2],"data_offsets":[0,8]}})", eight);
  EXPECT_TRUE(fails(p, {p, "key 'x': 'dtype' is missing"}));
  p = safetensors_file("no_offsets.safetensors", R"({"x":{"dtype":"F32","shape":[2]}})", eight);
  EXPECT_TRUE(fails(p, {p, "key 'x': 'data_offsets' is missing"}));
  p = safetensors_file("neg_shape.safetensors", R"({"x":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", eight);
  EXPECT_TRUE(fails(p, {p, "key 'x': shape holds -2"}));
  p = safetensors_file("beyond.safetensors", R"({"x":{"dtype":"F32","shape":[100],"data_offsets":[0,400]}})", eight);
  EXPECT_TRUE(fails(p, {p, "key 'x': data_offsets [0, 400] go beyond the data section (8 bytes)"}));
  p = safetensors_file("size.safetensors", R"({"x":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", eight);
  EXPECT_TRUE(fails(p, {p, "key 'x'", "hold 8 bytes but F32[3] needs 12"}));
  p = safetensors_file("reversed.safetensors", R"({"x":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})", eight);
  EXPECT_TRUE(fails(p, {p, "key 'x'", "are reversed"}));
  p = safetensors_file("overlap.safetensors",
                       R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                       R"("y":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                       std::string(12, '\0'));
  EXPECT_TRUE(fails(p, {p, "key 'y'", "overlap those of 'x'"}));
  p = safetensors_file("gap.safetensors", R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", eight);
  EXPECT_TRUE(fails(p, {p, "key 'x'", "leave a gap"}));
  p = safetensors_file("trailing.safetensors", R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", eight);
  EXPECT_TRUE(fails(p, {p, "cover 4 bytes of data but the file holds 8"}));
  p = safetensors_file("duplicate.safetensors",
                       R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                       R"("x":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                       eight);
  EXPECT_TRUE(fails(p, {p, "key 'x' appears twice"}));
  p = safetensors_file("metadata.safetensors", R"({"__metadata__":{"a":1}})", "");
  EXPECT_TRUE(fails(p, {p, "__metadata__ 'a' is not a string"}));
  std::string huge(8, '\xff');
  p = write_bytes("huge.safetensors", huge + "{}");
  EXPECT_TRUE(fails(p, {p, "header length", "goes beyond the end of the file"}));
}

TEST(BadInput, RandomCorruptionIsAnErrorOrHarmless) {
  // A few random bytes changed, many times over: reading either succeeds (the bytes were tensor data) or throws
  // edat::Error; never another exception, a crash or a hang.
  std::uint64_t state = 0x9e3779b97f4a7c15u;
  auto next = [&] {
    state ^= state << 13, state ^= state >> 7, state ^= state << 17;
    return state;
  };
  int errors = 0, reads = 0;
  for (const char* name : {"mixed_legacy.pth", "mixed.pth", "mixed_expected.safetensors", "tiny_resnet_legacy.pth"}) {
    const std::string original = read_bytes(fixture(name));
    for (int trial = 0; trial < 150; ++trial) {
      std::string bytes = original;
      const int changes = 1 + static_cast<int>(next() % 3);
      for (int c = 0; c < changes; ++c) bytes[next() % bytes.size()] = static_cast<char>(next());
      const std::string path = write_bytes("corrupt.bin", bytes);
      try {
        weights::read_weights(path);
        ++reads;
      } catch (const Error& e) {
        ++errors;
        EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
      } catch (const std::exception& e) {
        ADD_FAILURE() << name << " trial " << trial << ": not an edat::Error: " << e.what();
      }
    }
  }
  EXPECT_GT(errors, 100);
  std::printf("corrupted files: %d read, %d rejected\n", reads, errors);
}

// ---------------------------------------------------------------------------------------------------------------
// load_pretrained

// A module holding the given parameters and buffers (filled with `value`), and children.
struct Holder : nn::Module {
  Holder(const std::string& type, const std::vector<std::pair<std::string, Shape>>& params,
         const std::vector<std::pair<std::string, Shape>>& buffers = {}, double value = 0)
      : Module(type) {
    for (const auto& [name, shape] : params) register_parameter(name, full(shape, value));
    for (const auto& [name, shape] : buffers) {
      if (name == "num_batches_tracked") {
        register_buffer(name, zeros(shape, {.dtype = DType::i64}));
      } else {
        register_buffer(name, full(shape, value));
      }
    }
  }
  void add(const std::string& name, std::shared_ptr<nn::Module> child) { register_module(name, std::move(child)); }
  Tensor forward(const Tensor& x) override { return x; }
};

std::shared_ptr<Holder> batch_norm(std::int64_t channels, bool counter) {
  std::vector<std::pair<std::string, Shape>> buffers = {{"running_mean", {channels}}, {"running_var", {channels}}};
  if (counter) buffers.emplace_back("num_batches_tracked", Shape{});
  return std::make_shared<Holder>(
      "BatchNorm2d", std::vector<std::pair<std::string, Shape>>{{"weight", {channels}}, {"bias", {channels}}}, buffers);
}

// The tiny network of scripts/fixtures_weights.py with torchvision's names and `outputs` outputs; fc holds 0.5.
std::shared_ptr<Holder> tiny_resnet(std::int64_t outputs, bool counters = true, Shape conv1 = {4, 3, 3, 3}) {
  auto net = std::make_shared<Holder>("TinyResNet", std::vector<std::pair<std::string, Shape>>{});
  net->add("conv1", std::make_shared<Holder>("Conv2d", std::vector<std::pair<std::string, Shape>>{{"weight", conv1}}));
  net->add("bn1", batch_norm(4, counters));
  auto block = std::make_shared<Holder>("BasicBlock", std::vector<std::pair<std::string, Shape>>{});
  block->add("conv1",
             std::make_shared<Holder>("Conv2d", std::vector<std::pair<std::string, Shape>>{{"weight", {4, 4, 3, 3}}}));
  block->add("bn1", batch_norm(4, counters));
  auto layer1 = std::make_shared<Holder>("Sequential", std::vector<std::pair<std::string, Shape>>{});
  layer1->add("0", block);
  net->add("layer1", layer1);
  net->add("fc",
           std::make_shared<Holder>(
               "Linear", std::vector<std::pair<std::string, Shape>>{{"weight", {outputs, 4}}, {"bias", {outputs}}},
               std::vector<std::pair<std::string, Shape>>{}, 0.5));
  return net;
}

TEST(LoadPretrained, NewHeadIsSkippedAndReported) {
  const nn::NamedTensors expected = weights::read_safetensors(fixture("tiny_resnet_expected.safetensors"));
  for (const char* name : {"tiny_resnet.pth", "tiny_resnet_legacy.pth", "tiny_resnet_expected.safetensors"}) {
    SCOPED_TRACE(name);
    auto model = tiny_resnet(1);
    ::testing::internal::CaptureStdout();
    const nn::LoadReport report = weights::load_pretrained(*model, fixture(name), /*verbose=*/true);
    const std::string printed = ::testing::internal::GetCapturedStdout();
    EXPECT_NE(printed.find("loaded 12 tensors"), std::string::npos) << printed;
    EXPECT_NE(printed.find("skipped fc.weight (file [10, 4], model [1, 4]) and fc.bias (file [10], model [1]): "
                           "the head is new"),
              std::string::npos)
        << printed;
    EXPECT_EQ(report.loaded.size(), 12u);
    EXPECT_EQ(report.skipped, (std::vector<std::string>{"fc.weight", "fc.bias"}));
    for (const auto& [key, tensor] : model->state_dict()) {
      if (key.rfind("fc.", 0) == 0) {
        EXPECT_TRUE(edat::testing::all_close(tensor, std::vector<double>(tensor.numel(), 0.5), 0)) << key;
      } else {
        EXPECT_TRUE(identical(tensor, find(expected, key).to(tensor.dtype()))) << key;
      }
    }
    EXPECT_EQ(find(model->state_dict(), "bn1.num_batches_tracked").item(), 100);
  }
}

// scripts/fixtures_weights.py's TinyVGG: features.0 (conv with bias), features.1 (batch norm), classifier.0, .3 and
// .6 (Linear 4->6, 6->6, 6->outputs); the classifier holds 0.5.
std::shared_ptr<Holder> tiny_vgg(std::int64_t outputs) {
  using Params = std::vector<std::pair<std::string, Shape>>;
  auto net = std::make_shared<Holder>("TinyVGG", Params{});
  auto features = std::make_shared<Holder>("Sequential", Params{});
  features->add("0", std::make_shared<Holder>("Conv2d", Params{{"weight", {4, 3, 3, 3}}, {"bias", {4}}}));
  features->add("1", batch_norm(4, true));
  net->add("features", features);
  auto classifier = std::make_shared<Holder>("Sequential", Params{});
  const std::vector<std::pair<std::string, std::pair<std::int64_t, std::int64_t>>> linears = {
      {"0", {4, 6}}, {"3", {6, 6}}, {"6", {6, outputs}}};
  for (const auto& [index, in_out] : linears) {
    const auto [in, out] = in_out;
    classifier->add(index, std::make_shared<Holder>("Linear", Params{{"weight", {out, in}}, {"bias", {out}}}, Params{},
                                                    0.5));
  }
  net->add("classifier", classifier);
  return net;
}

TEST(LoadPretrained, OnlyTheMismatchedHeadModuleIsSkipped) {
  // VGG's classifier.0 and classifier.3 keep their shapes when the output count changes: they must load, and only
  // classifier.6 stay new (a whole-prefix skip of classifier. would silently drop 120M ImageNet weights).
  auto model = tiny_vgg(1);
  ::testing::internal::CaptureStdout();
  const nn::LoadReport report = weights::load_pretrained(*model, fixture("tiny_vgg.pth"), /*verbose=*/true);
  const std::string printed = ::testing::internal::GetCapturedStdout();
  EXPECT_EQ(report.skipped, (std::vector<std::string>{"classifier.6.weight", "classifier.6.bias"}));
  EXPECT_EQ(report.loaded.size(), 11u);  // features.0 (2), features.1 (5), classifier.0 and .3 (2 each)
  EXPECT_NE(printed.find("skipped classifier.6.weight (file [10, 6], model [1, 6]) and classifier.6.bias (file [10], "
                         "model [1]): the head is new"),
            std::string::npos)
      << printed;
  const nn::NamedTensors file = weights::read_pth(fixture("tiny_vgg.pth"));
  for (const auto& [key, tensor] : model->state_dict()) {
    if (key.starts_with("classifier.6.")) {
      EXPECT_TRUE(edat::testing::all_close(tensor, std::vector<double>(tensor.numel(), 0.5), 0)) << key;
    } else {
      EXPECT_TRUE(identical(tensor, find(file, key).to(tensor.dtype()))) << key;
    }
  }
}

TEST(LoadPretrained, SameHeadLoadsEverything) {
  auto model = tiny_resnet(10);
  const nn::LoadReport report = weights::load_pretrained(*model, fixture("tiny_resnet.pth"));
  EXPECT_EQ(report.loaded.size(), 14u);
  EXPECT_TRUE(report.skipped.empty());
  const Tensor bias = find(model->state_dict(), "fc.bias");  // a copy: state_dict() is a temporary
  EXPECT_TRUE(identical(bias, find(weights::read_pth(fixture("tiny_resnet.pth")), "fc.bias")));
}

TEST(LoadPretrained, BatchCountersOnOneSideAreFine) {
  // The file has num_batches_tracked, the model does not.
  auto model = tiny_resnet(1, /*counters=*/false);
  ::testing::internal::CaptureStdout();
  nn::LoadReport report = weights::load_pretrained(*model, fixture("tiny_resnet.pth"), true);
  std::string printed = ::testing::internal::GetCapturedStdout();
  EXPECT_NE(printed.find("ignored 2 num_batches_tracked tensors of the file"), std::string::npos) << printed;
  EXPECT_EQ(report.loaded.size(), 10u);
  EXPECT_EQ(report.skipped.size(), 4u);  // fc.weight, fc.bias and the two counters

  // The model has them, the file does not (written here without them).
  nn::NamedTensors without;
  for (auto& [key, tensor] : weights::read_pth(fixture("tiny_resnet.pth")))
    if (key.find("num_batches_tracked") == std::string::npos) without.emplace_back(key, tensor);
  const std::string path = temp_path("no_counters.safetensors");
  weights::write_safetensors(path, without);
  model = tiny_resnet(1);
  ::testing::internal::CaptureStdout();
  report = weights::load_pretrained(*model, path, true);
  printed = ::testing::internal::GetCapturedStdout();
  EXPECT_NE(printed.find("2 num_batches_tracked buffers of the model are not in the file"), std::string::npos)
      << printed;
  EXPECT_EQ(report.loaded.size(), 10u);
  EXPECT_EQ(find(model->state_dict(), "layer1.0.bn1.num_batches_tracked").item(), 0);
}

TEST(LoadPretrained, OtherMismatchesStillFail) {
  const std::string path = fixture("tiny_resnet.pth");
  auto wrong_conv = tiny_resnet(1, true, {4, 1, 3, 3});
  EXPECT_TRUE(throws_with([&] { weights::load_pretrained(*wrong_conv, path); },
                          {path, "conv1.weight (file [4, 3, 3, 3], model [4, 1, 3, 3])"}));
  auto extra = tiny_resnet(1);
  extra->add("head2", std::make_shared<Holder>("Linear", std::vector<std::pair<std::string, Shape>>{{"weight", {1}}}));
  EXPECT_TRUE(throws_with([&] { weights::load_pretrained(*extra, path); }, {path, "missing", "head2.weight"}));
}

}  // namespace
