#include "weights/safetensors.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "tensor/factory.h"
#include "weights/file_io.h"
#include "weights/float16.h"
#include "weights/json_brief.h"

namespace edat::weights {

static_assert(std::endian::native == std::endian::little, "safetensors data is little-endian, as this host must be");

namespace {

// Python's library refuses headers above 100 MB; so do we, before allocating anything.
constexpr std::uint64_t max_header_bytes = 100'000'000;

// The most elements a tensor, or one of its dimensions, may have.
constexpr std::uint64_t max_elements = std::uint64_t{1} << 60;

// A dtype as the file names it: how many bytes an element takes and what edat tensor it becomes.
struct FileDType {
  const char* name;
  std::size_t size;
  DType dtype;  // f16 is read into f32
};
constexpr FileDType file_dtypes[] = {
    {"F32", 4, DType::f32}, {"F64", 8, DType::f64}, {"BF16", 2, DType::bf16},
    {"I64", 8, DType::i64}, {"F16", 2, DType::f32},
};

std::optional<FileDType> find_file_dtype(const std::string& name) {
  for (const FileDType& d : file_dtypes)
    if (name == d.name) return d;
  return std::nullopt;
}

const char* file_dtype_name(DType dtype) {
  switch (dtype) {
    case DType::f32:
      return "F32";
    case DType::f64:
      return "F64";
    case DType::bf16:
      return "BF16";
    case DType::i64:
      return "I64";
  }
  return "?";
}

// The order of Python's writer: descending dtype as its Rust enum lists them (I64 > F64 > F32 > BF16), then name.
int write_rank(DType dtype) {
  switch (dtype) {
    case DType::i64:
      return 3;
    case DType::f64:
      return 2;
    case DType::f32:
      return 1;
    case DType::bf16:
      return 0;
  }
  return 0;
}

struct Entry {
  std::string name;
  FileDType dtype;
  Shape shape;
  std::uint64_t begin = 0, end = 0;
};

using Json = nlohmann::json;

// Parses the header, flagging a top-level key that appears twice (a JSON object would silently keep the last one).
Json parse_header(const std::string& text, const std::string& path) {
  std::set<std::string> seen;
  std::string duplicate;
  auto callback = [&](int depth, Json::parse_event_t event, Json& parsed) {
    if (event == Json::parse_event_t::key && depth == 1 && parsed.is_string()) {
      const std::string key = parsed.get<std::string>();
      if (!seen.insert(key).second && duplicate.empty()) duplicate = key;
    }
    return true;
  };
  Json header;
  try {
    header = Json::parse(text, callback);
  } catch (const Json::exception& e) {
    throw Error(path + ": the safetensors header is not valid JSON: " + e.what());
  }
  EDAT_CHECK(duplicate.empty(), path << ": key '" << duplicate << "' appears twice in the safetensors header");
  EDAT_CHECK(header.is_object(),
             path << ": the safetensors header is a JSON " << header.type_name() << ", not an object");
  return header;
}

std::uint64_t as_u64(const Json& value, const std::string& path, const std::string& key, const char* field) {
  EDAT_CHECK(value.is_number_unsigned() || (value.is_number_integer() && value.get<std::int64_t>() >= 0),
             path << ": key '" << key << "': " << field << " holds " << json_brief(value) << ", not a non-negative integer");
  return value.get<std::uint64_t>();
}

Entry parse_entry(const std::string& key, const Json& info, const std::string& path) {
  EDAT_CHECK(info.is_object(), path << ": key '" << key << "': expected an object with dtype, shape and data_offsets, "
                                    << "got " << json_brief(info));
  for (const char* field : {"dtype", "shape", "data_offsets"})
    EDAT_CHECK(info.contains(field), path << ": key '" << key << "': '" << field << "' is missing");
  Entry entry;
  entry.name = key;
  EDAT_CHECK(info["dtype"].is_string(), path << ": key '" << key << "': dtype is not a string");
  const std::string dtype = info["dtype"].get<std::string>();
  const auto found = find_file_dtype(dtype);
  EDAT_CHECK(found, path << ": key '" << key << "': dtype " << dtype
                         << " is not supported (edat reads F32, F64, BF16, I64 and F16)");
  entry.dtype = *found;

  const Json& shape = info["shape"];
  EDAT_CHECK(shape.is_array(), path << ": key '" << key << "': shape is not an array");
  std::uint64_t numel = 1;
  for (const Json& dim : shape) {
    const std::uint64_t size = as_u64(dim, path, key, "shape");
    // Each dimension is bounded too: [0, 2^64 - 1] holds no element but its sizes do not fit a tensor shape.
    EDAT_CHECK(size <= max_elements && (size == 0 || numel <= max_elements / size),
               path << ": key '" << key << "': shape is too large (a dimension of " << size << ", "
                    << shape.size() << " dimensions)");
    numel *= size;
    entry.shape.push_back(static_cast<std::int64_t>(size));
  }

  const Json& offsets = info["data_offsets"];
  EDAT_CHECK(offsets.is_array() && offsets.size() == 2,
             path << ": key '" << key << "': data_offsets is " << json_brief(offsets) << ", not [begin, end]");
  entry.begin = as_u64(offsets[0], path, key, "data_offsets");
  entry.end = as_u64(offsets[1], path, key, "data_offsets");
  EDAT_CHECK(entry.begin <= entry.end,
             path << ": key '" << key << "': data_offsets [" << entry.begin << ", " << entry.end << "] are reversed");
  EDAT_CHECK(entry.end - entry.begin == numel * entry.dtype.size,
             path << ": key '" << key << "': data_offsets [" << entry.begin << ", " << entry.end << "] hold "
                  << entry.end - entry.begin << " bytes but " << dtype << shape_str(entry.shape) << " needs "
                  << numel * entry.dtype.size);
  return entry;
}

}  // namespace

SafetensorsContents read_safetensors_with_metadata(const std::string& path) {
  InputFile file(path);
  EDAT_CHECK(file.size() >= 8, path << ": too short for a safetensors file (" << file.size() << " bytes)");
  std::uint64_t header_size = 0;
  file.read_at(0, &header_size, 8);
  EDAT_CHECK(header_size <= file.size() - 8, path << ": the safetensors header length " << header_size
                                                  << " goes beyond the end of the file (" << file.size()
                                                  << " bytes): truncated, or not a safetensors file");
  EDAT_CHECK(header_size <= max_header_bytes, path << ": the safetensors header length " << header_size
                                                   << " is above the limit of " << max_header_bytes << " bytes");
  std::string text(header_size, '\0');
  file.read_at(8, text.data(), text.size());
  EDAT_CHECK(!text.empty() && text[0] == '{', path << ": the safetensors header does not start with '{'");
  const Json header = parse_header(text, path);

  SafetensorsContents contents;
  std::vector<Entry> entries;
  for (const auto& [key, info] : header.items()) {
    if (key == "__metadata__") {
      EDAT_CHECK(info.is_object(), path << ": __metadata__ is not an object of strings");
      for (const auto& [name, value] : info.items()) {
        EDAT_CHECK(value.is_string(), path << ": __metadata__ '" << name << "' is not a string");
        contents.metadata[name] = value.get<std::string>();
      }
      continue;
    }
    entries.push_back(parse_entry(key, info, path));
  }

  // The data ranges must tile the data section exactly: sorted, no overlap, no gap, nothing left over.
  const std::uint64_t data_start = 8 + header_size, data_size = file.size() - data_start;
  std::sort(entries.begin(), entries.end(),
            [](const Entry& a, const Entry& b) { return a.begin != b.begin ? a.begin < b.begin : a.end < b.end; });
  std::uint64_t covered = 0;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const Entry& e = entries[i];
    EDAT_CHECK(e.end <= data_size, path << ": key '" << e.name << "': data_offsets [" << e.begin << ", " << e.end
                                        << "] go beyond the data section (" << data_size
                                        << " bytes): truncated or corrupt");
    EDAT_CHECK(e.begin >= covered, path << ": key '" << e.name << "': data_offsets [" << e.begin << ", " << e.end
                                        << "] overlap those of '" << entries[i - 1].name << "'");
    EDAT_CHECK(e.begin == covered, path << ": key '" << e.name << "': data_offsets [" << e.begin << ", " << e.end
                                        << "] leave a gap after byte " << covered);
    covered = e.end;
  }
  EDAT_CHECK(covered == data_size, path << ": the tensors cover " << covered << " bytes of data but the file holds "
                                        << data_size << " after the header");

  for (const Entry& e : entries) {
    Tensor tensor = empty(e.shape, {.dtype = e.dtype.dtype});
    if (std::string(e.dtype.name) == "F16") {
      std::vector<std::uint16_t> halves(static_cast<std::size_t>(tensor.numel()));
      file.read_at(data_start + e.begin, halves.data(), halves.size() * 2);
      float* out = tensor.data<float>();
      for (std::size_t i = 0; i < halves.size(); ++i) out[i] = f16_to_f32(halves[i]);
    } else {
      file.read_at(data_start + e.begin, tensor.raw_data(), tensor.nbytes());
    }
    contents.tensors.emplace_back(e.name, std::move(tensor));
  }
  return contents;
}

NamedTensors read_safetensors(const std::string& path) { return read_safetensors_with_metadata(path).tensors; }

void write_safetensors(const std::string& path, const NamedTensors& tensors,
                       const std::map<std::string, std::string>& metadata) {
  // CPU copies, checked, in the writing order.
  std::vector<std::pair<std::string, Tensor>> sorted;
  std::set<std::string> names;
  for (const auto& [name, tensor] : tensors) {
    EDAT_CHECK(tensor.defined(), "write_safetensors " << path << ": tensor '" << name << "' is undefined");
    EDAT_CHECK(name != "__metadata__", "write_safetensors " << path << ": '__metadata__' cannot name a tensor");
    EDAT_CHECK(names.insert(name).second, "write_safetensors " << path << ": key '" << name << "' appears twice");
    sorted.emplace_back(name, tensor.cpu());
  }
  std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) {
    const int ra = write_rank(a.second.dtype()), rb = write_rank(b.second.dtype());
    return ra != rb ? ra > rb : a.first < b.first;
  });

  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::uint64_t offset = 0;
  for (const auto& [name, tensor] : sorted) {
    nlohmann::ordered_json info;
    info["dtype"] = file_dtype_name(tensor.dtype());
    info["shape"] = tensor.shape();
    info["data_offsets"] = {offset, offset + tensor.nbytes()};
    offset += tensor.nbytes();
    header[name] = std::move(info);
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  const std::uint64_t header_size = text.size();

  write_file_atomically(path, [&](std::FILE* file) {
    write_bytes(file, &header_size, 8, path);
    write_bytes(file, text.data(), text.size(), path);
    for (const auto& [name, tensor] : sorted) write_bytes(file, tensor.raw_data(), tensor.nbytes(), path);
  });
}

}  // namespace edat::weights
