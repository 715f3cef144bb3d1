#include "weights/pth.h"

#include <zip.h>

#include <array>
#include <cstring>
#include <map>
#include <optional>
#include <set>

#include "tensor/factory.h"
#include "weights/file_io.h"
#include "weights/float16.h"
#include "weights/pickle.h"

namespace edat::weights {

namespace {

using pickle::Value;
using pickle::ValuePtr;
using Kind = Value::Kind;

// ---- storages ----

// torch's storage types: element size, and the edat dtype when we read it (f16 is widened to f32).
struct StorageType {
  const char* name;
  std::size_t size;
  std::optional<DType> dtype;
  bool half = false;
};
const StorageType storage_types[] = {
    {"torch.FloatStorage", 4, DType::f32},
    {"torch.DoubleStorage", 8, DType::f64},
    {"torch.HalfStorage", 2, DType::f32, true},
    {"torch.BFloat16Storage", 2, DType::bf16},
    {"torch.LongStorage", 8, DType::i64},
    {"torch.IntStorage", 4, {}},
    {"torch.ShortStorage", 2, {}},
    {"torch.CharStorage", 1, {}},
    {"torch.ByteStorage", 1, {}},
    {"torch.BoolStorage", 1, {}},
    {"torch.ComplexFloatStorage", 8, {}},
    {"torch.ComplexDoubleStorage", 16, {}},
    {"torch.QInt8Storage", 1, {}},
    {"torch.QUInt8Storage", 1, {}},
    {"torch.QInt32Storage", 4, {}},
    {"torch.QUInt4x2Storage", 1, {}},
    {"torch.QUInt2x4Storage", 1, {}},
    {"torch.UntypedStorage", 1, {}},
};

// One storage as saved: its bytes are filled in once the data is read (after the pickle, in the legacy format).
struct RootStorage {
  const StorageType* type = nullptr;
  std::string key;
  std::int64_t numel = 0;
  std::shared_ptr<const std::vector<std::uint8_t>> owner;  // keeps `data` alive
  const std::uint8_t* data = nullptr;
};

// What a persistent id stands for: a root storage or (legacy format) a slice of one, in elements.
struct StorageView {
  std::shared_ptr<RootStorage> root;
  std::int64_t offset = 0, numel = 0;
};

// A tensor as _rebuild_tensor_v2 describes it, materialised once every storage has its bytes.
struct PendingTensor {
  StorageView storage;
  std::int64_t offset = 0;
  Shape size, stride;
};

const StorageType& find_storage_type(const std::string& name, const std::string& path) {
  for (const StorageType& t : storage_types)
    if (name == t.name) return t;
  throw Error(path + ": unknown storage type '" + name + "' in the pickle");
}

std::int64_t get_int(const ValuePtr& v, const std::string& path, const char* what) {
  EDAT_CHECK(v->kind == Kind::integer && v->text.empty(),
             path << ": " << what << " is a " << v->describe() << ", not an integer");
  return v->integer;
}

Shape get_int_tuple(const ValuePtr& v, const std::string& path, const char* what) {
  EDAT_CHECK(v->kind == Kind::tuple, path << ": " << what << " is a " << v->describe() << ", not a tuple");
  Shape out;
  for (const ValuePtr& item : v->items) out.push_back(get_int(item, path, what));
  return out;
}

// Copies the elements of a strided view of `src` (element type T) into contiguous `dst`, converting with `convert`.
template <class T, class Out, class Convert>
void copy_strided(const std::uint8_t* src_bytes, Out* dst, std::int64_t offset, const Shape& size, const Shape& stride,
                  Convert convert) {
  const std::int64_t n = numel(size);
  bool contiguous = true;
  for (std::int64_t i = static_cast<std::int64_t>(size.size()) - 1, expected = 1; i >= 0; --i) {
    if (size[i] != 1 && stride[i] != expected) contiguous = false;
    expected *= size[i];
  }
  auto load = [&](std::int64_t element) {
    T value;
    std::memcpy(&value, src_bytes + element * static_cast<std::int64_t>(sizeof(T)), sizeof(T));
    return convert(value);
  };
  if (contiguous) {
    for (std::int64_t i = 0; i < n; ++i) dst[i] = load(offset + i);
    return;
  }
  // An odometer over the index, its storage position kept up to date incrementally.
  const std::size_t rank = size.size();
  std::vector<std::int64_t> index(rank, 0);
  std::int64_t position = offset;
  for (std::int64_t i = 0; i < n; ++i) {
    dst[i] = load(position);
    for (std::size_t d = rank; d-- > 0;) {
      if (++index[d] < size[d]) {
        position += stride[d];
        break;
      }
      position -= stride[d] * (size[d] - 1);
      index[d] = 0;
    }
  }
}

// How many elements the overlapping views of one file may add beyond their storages (2^25: 128 MiB of f32).
// torchvision's files have none; the strided ResNet-34 fixture adds about 21 million.
constexpr std::int64_t max_overlap_elements = std::int64_t{1} << 25;

// `overlap_budget` starts at max_overlap_elements for each file and is spent by views that repeat elements.
Tensor materialise(const PendingTensor& p, const std::string& key, const std::string& path,
                   std::int64_t& overlap_budget) {
  const RootStorage& root = *p.storage.root;
  const StorageType& type = *root.type;
  EDAT_CHECK(type.dtype, path << ": key '" << key << "': storage type " << type.name
                              << " is not supported (edat reads Float, Double, Half, BFloat16 and Long storages)");
  EDAT_CHECK(root.data != nullptr || root.numel == 0,
             path << ": key '" << key << "': the data of storage '" << root.key << "' was never found");
  EDAT_CHECK(p.size.size() == p.stride.size(), path << ": key '" << key << "': size " << shape_str(p.size)
                                                    << " and stride " << shape_str(p.stride) << " differ in rank");
  EDAT_CHECK(p.offset >= 0, path << ": key '" << key << "': negative storage offset " << p.offset);
  // The element count and the largest element index the view touches, saturating instead of overflowing.
  constexpr std::int64_t cap = std::int64_t{1} << 62;
  auto mul = [&](std::int64_t a, std::int64_t b) { return a != 0 && b > cap / a ? cap : a * b; };
  auto add = [&](std::int64_t a, std::int64_t b) { return b >= cap - a ? cap : a + b; };
  std::int64_t last = std::min(p.offset, cap), count = 1;
  for (std::size_t d = 0; d < p.size.size(); ++d) {
    EDAT_CHECK(p.size[d] >= 0 && p.stride[d] >= 0, path << ": key '" << key << "': size " << shape_str(p.size)
                                                        << " / stride " << shape_str(p.stride) << " is invalid");
    count = mul(count, p.size[d]);
    if (p.size[d] > 0) last = add(last, mul(p.size[d] - 1, p.stride[d]));
  }
  if (count == 0) return empty(p.size, {.dtype = *type.dtype});
  EDAT_CHECK(last < p.storage.numel, path << ": key '" << key << "': size " << shape_str(p.size) << ", stride "
                                          << shape_str(p.stride) << " and offset " << p.offset << " reach element "
                                          << last << " of a storage of " << p.storage.numel);
  // Overlapping views (stride 0, as_strided) hold more elements than their storage: a small file could ask for
  // gigabytes. What they add beyond their storage is drawn from one budget per file.
  if (count > p.storage.numel) {
    EDAT_CHECK(count - p.storage.numel <= overlap_budget,
               path << ": key '" << key << "': size " << shape_str(p.size) << " repeats the " << p.storage.numel
                    << " elements of its storage beyond the limit of " << max_overlap_elements
                    << " repeated elements per file");
    overlap_budget -= count - p.storage.numel;
  }
  Tensor out = empty(p.size, {.dtype = *type.dtype});
  const std::uint8_t* base = root.data + p.storage.offset * static_cast<std::int64_t>(type.size);
  auto same = [](auto v) { return v; };
  switch (*type.dtype) {
    case DType::f32:
      if (type.half) {
        copy_strided<std::uint16_t>(base, out.data<float>(), p.offset, p.size, p.stride, f16_to_f32);
      } else {
        copy_strided<float>(base, out.data<float>(), p.offset, p.size, p.stride, same);
      }
      break;
    case DType::f64:
      copy_strided<double>(base, out.data<double>(), p.offset, p.size, p.stride, same);
      break;
    case DType::bf16:
      copy_strided<bf16>(base, out.data<bf16>(), p.offset, p.size, p.stride, same);
      break;
    case DType::i64:
      copy_strided<std::int64_t>(base, out.data<std::int64_t>(), p.offset, p.size, p.stride, same);
      break;
  }
  return out;
}

// ---- the pickle of a state dict ----

// Unpickles the main pickle with torch's globals resolved; storages are looked up (and created) by key.
class StateDictReader {
 public:
  StateDictReader(std::string path, bool legacy) : path_(std::move(path)), legacy_(legacy) {
    hooks_.call = [this](const ValuePtr& callable, const ValuePtr& args) { return call(callable, args); };
    hooks_.persistent_load = [this](const ValuePtr& pid) { return persistent_load(pid); };
  }
  const pickle::Hooks& hooks() const { return hooks_; }
  std::map<std::string, std::shared_ptr<RootStorage>>& storages() { return storages_; }

  // The dict as (key, tensor) pairs, materialised.
  nn::NamedTensors to_named_tensors(const ValuePtr& top) const {
    EDAT_CHECK(top->kind == Kind::dict, path_ << ": holds a " << top->describe() << ", not a state dict");
    nn::NamedTensors out;
    std::set<std::string> seen;
    std::int64_t overlap_budget = max_overlap_elements;
    for (const auto& [key, value] : top->entries) {
      EDAT_CHECK(key->kind == Kind::string, path_ << ": a state dict key is a " << key->describe());
      EDAT_CHECK(value->kind == Kind::object && value->type == "tensor",
                 path_ << ": key '" << key->text << "' holds a " << value->describe()
                       << ", not a tensor (is this a training checkpoint rather than a state dict?)");
      EDAT_CHECK(seen.insert(key->text).second, path_ << ": key '" << key->text << "' appears twice");
      const auto& pending = std::any_cast<const std::shared_ptr<PendingTensor>&>(value->payload);
      out.emplace_back(key->text, materialise(*pending, key->text, path_, overlap_budget));
    }
    return out;
  }

 private:
  ValuePtr call(const ValuePtr& callable, const ValuePtr& args) {
    EDAT_CHECK(callable->kind == Kind::global, path_ << ": the pickle calls a " << callable->describe());
    const std::string& name = callable->text;
    const auto& a = args->items;
    if (name == "collections.OrderedDict") return Value::make(Kind::dict);
    if (name == "torch._utils._rebuild_tensor_v2" || name == "torch._utils._rebuild_tensor") {
      EDAT_CHECK(a.size() >= 4, path_ << ": " << name << " called with " << a.size() << " arguments");
      EDAT_CHECK(a[0]->kind == Kind::object && a[0]->type == "storage",
                 path_ << ": " << name << " of a " << a[0]->describe() << ", not a storage");
      auto pending = std::make_shared<PendingTensor>();
      pending->storage = std::any_cast<const StorageView&>(a[0]->payload);
      pending->offset = get_int(a[1], path_, "a tensor's storage offset");
      pending->size = get_int_tuple(a[2], path_, "a tensor's size");
      pending->stride = get_int_tuple(a[3], path_, "a tensor's stride");
      return Value::make_object("tensor", pending);
    }
    if (name == "torch._utils._rebuild_parameter" || name == "torch._utils._rebuild_parameter_with_state") {
      EDAT_CHECK(!a.empty() && a[0]->kind == Kind::object && a[0]->type == "tensor",
                 path_ << ": " << name << " without a tensor");
      return a[0];  // a Parameter is its data here; requires_grad is the model's business
    }
    throw Error(path_ + ": the pickle calls " + name + ", which a state dict of tensors does not use");
  }

  // zip: ('storage', type, key, location, numel); legacy: the same plus view_metadata (None or (key, offset, size)).
  ValuePtr persistent_load(const ValuePtr& pid) {
    const auto& f = pid->items;
    EDAT_CHECK(pid->kind == Kind::tuple && !f.empty() && f[0]->kind == Kind::string && f[0]->text == "storage",
               path_ << ": unknown persistent id " << pid->describe() << " (expected ('storage', ...))");
    EDAT_CHECK(f.size() == (legacy_ ? 6u : 5u),
               path_ << ": a storage persistent id has " << f.size() << " fields, expected " << (legacy_ ? 6 : 5));
    EDAT_CHECK(f[1]->kind == Kind::global, path_ << ": a storage type is a " << f[1]->describe());
    EDAT_CHECK(f[2]->kind == Kind::string, path_ << ": a storage key is a " << f[2]->describe());
    const StorageType& type = find_storage_type(f[1]->text, path_);
    const std::string& key = f[2]->text;
    const std::int64_t numel = get_int(f[4], path_, "a storage's element count");
    EDAT_CHECK(numel >= 0 && numel <= (std::int64_t{1} << 40),
               path_ << ": storage '" << key << "' has an invalid element count " << numel);
    auto& root = storages_[key];
    if (!root) {
      root = std::make_shared<RootStorage>();
      root->type = &type;
      root->key = key;
      root->numel = numel;
    }
    EDAT_CHECK(root->type == &type && root->numel == numel,
               path_ << ": storage '" << key << "' is described twice, differently");
    StorageView view{root, 0, numel};
    if (legacy_ && f[5]->kind != Kind::none) {
      EDAT_CHECK(f[5]->kind == Kind::tuple && f[5]->items.size() == 3,
                 path_ << ": storage '" << key << "' has a view of " << f[5]->describe());
      view.offset = get_int(f[5]->items[1], path_, "a storage view's offset");
      view.numel = get_int(f[5]->items[2], path_, "a storage view's size");
      // Checked as offset <= n and size <= n - offset: offset + size could overflow (2^62 + 16 plus 2^62).
      EDAT_CHECK(view.offset >= 0 && view.numel >= 0 && view.offset <= numel && view.numel <= numel - view.offset,
                 path_ << ": storage '" << key << "': view [" << view.offset << ", +" << view.numel << ") beyond its "
                       << numel << " elements");
    }
    return Value::make_object("storage", view);
  }

  std::string path_;
  bool legacy_;
  pickle::Hooks hooks_;
  std::map<std::string, std::shared_ptr<RootStorage>> storages_;
};

// ---- the zip format ----

struct ZipCloser {
  void operator()(zip_t* z) const { zip_discard(z); }
};
using ZipArchive = std::unique_ptr<zip_t, ZipCloser>;

// Deflate expands at most about 1032:1; a stored entry (what torch.save writes) cannot be larger than the archive.
constexpr std::uint64_t max_deflate_ratio = 1032;

// An entry's bytes. Its size field is only a claim: the limit comes from the archive's real size, and the buffer
// grows with the bytes that actually arrive, so a 483-byte file cannot make us allocate 4 GB.
std::vector<std::uint8_t> read_entry(zip_t* zip, zip_int64_t index, const std::string& path, const std::string& name,
                                     std::uint64_t archive_size) {
  zip_stat_t stat;
  zip_stat_init(&stat);
  EDAT_CHECK(zip_stat_index(zip, static_cast<zip_uint64_t>(index), 0, &stat) == 0 && (stat.valid & ZIP_STAT_SIZE),
             path << ": cannot read '" << name << "' in the archive: " << zip_strerror(zip));
  const bool stored = (stat.valid & ZIP_STAT_COMP_METHOD) && stat.comp_method == ZIP_CM_STORE;
  const std::uint64_t limit = stored ? archive_size : archive_size * max_deflate_ratio;
  EDAT_CHECK(stat.size <= limit, path << ": '" << name << "' claims " << stat.size << " bytes, more than an archive of "
                                      << archive_size << " bytes can hold: corrupt");
  std::unique_ptr<zip_file_t, int (*)(zip_file_t*)> file(zip_fopen_index(zip, static_cast<zip_uint64_t>(index), 0),
                                                         &zip_fclose);
  EDAT_CHECK(file, path << ": cannot open '" << name << "' in the archive: " << zip_strerror(zip));
  constexpr std::size_t chunk = std::size_t{1} << 24;
  std::vector<std::uint8_t> bytes;
  while (bytes.size() < stat.size) {
    const std::size_t done = bytes.size();
    bytes.resize(done + std::min<std::uint64_t>(chunk, stat.size - done));
    const zip_int64_t n = zip_fread(file.get(), bytes.data() + done, bytes.size() - done);
    EDAT_CHECK(n > 0, path << ": cannot read '" << name << "' in the archive ("
                           << (n < 0 ? zip_file_strerror(file.get()) : "unexpected end") << "): truncated or corrupt");
    bytes.resize(done + static_cast<std::size_t>(n));
  }
  return bytes;
}

nn::NamedTensors read_zip(const std::string& path) {
  int code = 0;
  ZipArchive zip(zip_open(path.c_str(), ZIP_RDONLY, &code));
  if (!zip) {
    zip_error_t error;
    zip_error_init_with_code(&error, code);
    const std::string message = zip_error_strerror(&error);
    zip_error_fini(&error);
    throw Error(path + ": cannot open as a zip archive (" + message + "): truncated or not a .pth file");
  }
  const std::uint64_t archive_size = InputFile(path).size();
  // <archive>/data.pkl: the folder's name is whatever torch.save chose (the file's stem, "archive" ...).
  const zip_int64_t count = zip_get_num_entries(zip.get(), 0);
  std::string prefix;
  zip_int64_t pickle_index = -1;
  for (zip_int64_t i = 0; i < count && pickle_index < 0; ++i) {
    const char* raw = zip_get_name(zip.get(), static_cast<zip_uint64_t>(i), ZIP_FL_ENC_RAW);
    if (!raw) continue;
    const std::string name = raw;
    const std::size_t slash = name.find('/');
    if (name.size() >= 8 && name.compare(name.size() - 8, 8, "data.pkl") == 0 &&
        (name.size() == 8 || (slash == name.size() - 9))) {
      prefix = name.substr(0, name.size() - 8);
      pickle_index = i;
    }
  }
  EDAT_CHECK(pickle_index >= 0, path << ": the zip archive has no data.pkl: not a file written by torch.save");
  auto locate = [&](const std::string& name) { return zip_name_locate(zip.get(), name.c_str(), ZIP_FL_ENC_RAW); };

  const zip_int64_t byteorder = locate(prefix + "byteorder");
  if (byteorder >= 0) {
    const auto order = read_entry(zip.get(), byteorder, path, prefix + "byteorder", archive_size);
    EDAT_CHECK(std::string(order.begin(), order.end()) == "little",
               path << ": the tensors were saved big-endian, which edat does not read");
  }

  const std::string pickle_name = prefix + "data.pkl";
  const std::vector<std::uint8_t> pickle_bytes = read_entry(zip.get(), pickle_index, path, pickle_name, archive_size);
  StateDictReader reader(path, /*legacy=*/false);
  std::size_t pos = 0;
  const ValuePtr top = pickle::unpickle(pickle_bytes, pos, reader.hooks(), path + ": " + pickle_name);

  for (auto& [key, root] : reader.storages()) {
    const std::string name = prefix + "data/" + key;
    const zip_int64_t index = locate(name);
    EDAT_CHECK(index >= 0, path << ": storage '" << name << "' is missing from the archive");
    auto bytes = std::make_shared<const std::vector<std::uint8_t>>(read_entry(zip.get(), index, path, name, archive_size));
    const std::uint64_t needed = static_cast<std::uint64_t>(root->numel) * root->type->size;
    EDAT_CHECK(bytes->size() >= needed, path << ": storage '" << name << "' holds " << bytes->size() << " bytes but "
                                             << root->numel << " elements of " << root->type->name << " need "
                                             << needed);
    root->data = bytes->data();
    root->owner = std::move(bytes);
  }
  return reader.to_named_tensors(top);
}

// ---- the legacy format ----

nn::NamedTensors read_legacy(const std::string& path) {
  auto file = std::make_shared<const std::vector<std::uint8_t>>(read_file(path));
  const std::vector<std::uint8_t>& bytes = *file;
  EDAT_CHECK(!(bytes.size() > 262 && std::memcmp(bytes.data() + 257, "ustar", 5) == 0),
             path << ": a tar archive (the .pth format of torch < 0.4), which edat does not read");
  // The first pickle is the magic number 0x1950a86a20f9469cfc6c: PROTO 2, LONG1 of 10 bytes, STOP.
  static const std::array<std::uint8_t, 10> magic = {0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};
  EDAT_CHECK(bytes.size() >= 15 && bytes[0] == 0x80 && bytes[2] == 0x8a && bytes[3] == 10 &&
                 std::memcmp(bytes.data() + 4, magic.data(), magic.size()) == 0,
             path << ": wrong magic number: not a PyTorch .pth file (neither zip nor legacy format)");

  pickle::Hooks plain;  // for the small pickles around the state dict: no globals, no storages
  std::size_t pos = 0;
  pickle::unpickle(bytes, pos, plain, path);
  const ValuePtr version = pickle::unpickle(bytes, pos, plain, path);
  EDAT_CHECK(version->kind == Kind::integer && version->integer == 1001,
             path << ": legacy .pth protocol version is " << version->describe() << ", expected 1001");
  const ValuePtr sys_info = pickle::unpickle(bytes, pos, plain, path);
  if (sys_info->kind == Kind::dict) {
    for (const auto& [key, value] : sys_info->entries)
      EDAT_CHECK(!(key->text == "little_endian" && value->kind == Kind::boolean && !value->boolean),
                 path << ": the tensors were saved big-endian, which edat does not read");
  }

  StateDictReader reader(path, /*legacy=*/true);
  const ValuePtr top = pickle::unpickle(bytes, pos, reader.hooks(), path);
  const ValuePtr keys = pickle::unpickle(bytes, pos, plain, path);
  EDAT_CHECK(keys->kind == Kind::list, path << ": the storage key list is a " << keys->describe());

  // Each storage: an 8-byte element count, then its bytes, in the order of the key list.
  for (const ValuePtr& key : keys->items) {
    EDAT_CHECK(key->kind == Kind::string, path << ": a storage key is a " << key->describe());
    const auto found = reader.storages().find(key->text);
    EDAT_CHECK(found != reader.storages().end(), path << ": storage '" << key->text << "' is listed but unused");
    RootStorage& root = *found->second;
    EDAT_CHECK(bytes.size() - pos >= 8, path << ": truncated: storage '" << key->text << "' would start at byte " << pos
                                             << " but the file has " << bytes.size());
    std::int64_t count;
    std::memcpy(&count, bytes.data() + pos, 8);
    pos += 8;
    EDAT_CHECK(count == root.numel, path << ": storage '" << key->text << "' holds " << count
                                         << " elements but the pickle says " << root.numel);
    const std::uint64_t n = static_cast<std::uint64_t>(count) * root.type->size;
    EDAT_CHECK(n <= bytes.size() - pos, path << ": truncated: storage '" << key->text << "' needs bytes " << pos
                                             << " to " << pos + n << " but the file has " << bytes.size());
    root.data = bytes.data() + pos;
    root.owner = file;
    pos += n;
  }
  return reader.to_named_tensors(top);
}

}  // namespace

nn::NamedTensors read_pth(const std::string& path) {
  const std::vector<std::uint8_t> head = read_prefix(path, 4);
  if (head.size() >= 2 && head[0] == 'P' && head[1] == 'K') return read_zip(path);
  return read_legacy(path);
}

}  // namespace edat::weights
