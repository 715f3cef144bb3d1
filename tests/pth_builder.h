// Writes pickles and legacy-format .pth files byte by byte, so tests can make the hostile files torch never would.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "tensor/shape.h"

namespace edat::testing::pth {

// Opcodes by their pickletools names; integers always as 8-byte LONG1, strings as BINUNICODE.
struct PickleWriter {
  std::string bytes;

  void byte(std::uint8_t b) { bytes.push_back(static_cast<char>(b)); }
  void op(std::uint8_t opcode) { byte(opcode); }
  void proto() { op(0x80), byte(2); }
  void stop() { op(0x2e); }
  void none() { op(0x4e); }
  void mark() { op(0x28); }
  void tuple() { op(0x74); }
  void reduce() { op(0x52); }
  void boolean(bool b) { op(b ? 0x88 : 0x89); }
  void integer(std::int64_t v) {
    op(0x8a), byte(8);
    for (int i = 0; i < 8; ++i) byte(static_cast<std::uint8_t>(static_cast<std::uint64_t>(v) >> (8 * i)));
  }
  void str(const std::string& s) {
    op(0x58);
    for (int i = 0; i < 4; ++i) byte(static_cast<std::uint8_t>(s.size() >> (8 * i)));
    bytes += s;
  }
  void global(const std::string& module, const std::string& name) { op(0x63), bytes += module + "\n" + name + "\n"; }
  void int_tuple(const Shape& values) {
    mark();
    for (std::int64_t v : values) integer(v);
    tuple();
  }
  void ordered_dict() { global("collections", "OrderedDict"), op(0x29), reduce(); }
};

// The legacy main pickle of {'w': _rebuild_tensor_v2(FloatStorage '0' of `numel` [view (offset, size)], offset,
// size, stride, False, OrderedDict())}.
inline std::string one_tensor_pickle(const Shape& size, const Shape& stride, std::int64_t offset, std::int64_t numel,
                                     const std::optional<std::pair<std::int64_t, std::int64_t>>& view) {
  PickleWriter p;
  p.proto();
  p.ordered_dict();
  p.str("w");
  p.global("torch._utils", "_rebuild_tensor_v2");
  p.mark();
  p.mark();  // the persistent id ('storage', type, key, location, numel, view)
  p.str("storage"), p.global("torch", "FloatStorage"), p.str("0"), p.str("cpu"), p.integer(numel);
  if (view) {
    p.mark(), p.str("0"), p.integer(view->first), p.integer(view->second), p.tuple();
  } else {
    p.none();
  }
  p.tuple();
  p.op(0x51);  // BINPERSID
  p.integer(offset);
  p.int_tuple(size);
  p.int_tuple(stride);
  p.boolean(false);
  p.ordered_dict();
  p.tuple();
  p.reduce();
  p.op(0x73);  // SETITEM
  p.stop();
  return p.bytes;
}

// A legacy .pth: the magic number, protocol version 1001 and system info pickles, `main`, the storage keys, then
// each storage as its element count and bytes.
inline std::string legacy_file(const std::string& main, const std::vector<std::string>& keys,
                               const std::vector<std::string>& data, const std::vector<std::int64_t>& counts) {
  static const std::array<std::uint8_t, 10> magic = {0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};
  PickleWriter head;
  head.proto(), head.op(0x8a), head.byte(10);
  for (std::uint8_t b : magic) head.byte(b);
  head.stop();
  head.proto(), head.op(0x4d), head.byte(0xe9), head.byte(0x03), head.stop();  // BININT2 1001
  head.proto(), head.op(0x7d), head.stop();                                    // sys_info: {}
  PickleWriter key_list;
  key_list.proto(), key_list.mark();
  for (const std::string& key : keys) key_list.str(key);
  key_list.op(0x6c), key_list.stop();  // LIST
  std::string out = head.bytes + main + key_list.bytes;
  for (std::size_t i = 0; i < data.size(); ++i) {
    const std::int64_t count = counts[i];
    out.append(reinterpret_cast<const char*>(&count), 8);
    out += data[i];
  }
  return out;
}

}  // namespace edat::testing::pth
