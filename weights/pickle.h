// A small unpickler: turns a Python pickle into a tree of values, for reading PyTorch .pth files.
//
// It implements the opcodes that torch.save of a state_dict emits (protocol 2, plus the protocol 4 framing opcodes
// FRAME, MEMOIZE, STACK_GLOBAL, BINUNICODE8) and nothing else: any other opcode is an edat::Error naming it and its
// byte offset. It never imports or runs anything: a global ("collections.OrderedDict") is just a name, and what
// calling it means (REDUCE, NEWOBJ, BUILD) and what a persistent id refers to are decided by the caller's hooks.
#pragma once

#include <any>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace edat::pickle {

struct Value;
using ValuePtr = std::shared_ptr<Value>;  // shared: the memo and containers may refer to one value several times

struct Value {
  enum class Kind { none, boolean, integer, floating, string, bytes, tuple, list, dict, global, object };
  Kind kind = Kind::none;
  bool boolean = false;
  std::int64_t integer = 0;  // an integer that does not fit 64 bits keeps its LONG1 bytes in `text` instead
  double floating = 0;
  std::string text;                                    // string, bytes, or a global's "module.name"
  std::vector<ValuePtr> items;                         // tuple, list
  std::vector<std::pair<ValuePtr, ValuePtr>> entries;  // dict, in insertion order
  std::string type;                                    // object: what the hook made ("tensor", "storage" ...)
  std::any payload;                                    // object: the hook's data

  Value() = default;
  Value(const Value&) = delete;
  Value& operator=(const Value&) = delete;
  // Frees nested containers with a work list rather than recursion: a hostile pickle may nest millions deep.
  ~Value();

  static ValuePtr make(Kind kind) {
    auto value = std::make_shared<Value>();
    value->kind = kind;
    return value;
  }
  static ValuePtr make_object(std::string type, std::any payload) {
    auto value = make(Kind::object);
    value->type = std::move(type);
    value->payload = std::move(payload);
    return value;
  }
  // For error messages: "int", "str 'abc'", "global collections.OrderedDict", "tuple of 3" ...
  std::string describe() const;
};

struct Hooks {
  // REDUCE and NEWOBJ: `callable` is usually a global; `args` is a tuple. Must return the result or throw.
  std::function<ValuePtr(const ValuePtr& callable, const ValuePtr& args)> call;
  // BINPERSID: returns what the persistent id (usually a tuple) stands for.
  std::function<ValuePtr(const ValuePtr& pid)> persistent_load;
  // BUILD: sets `state` on `object`. When unset, the state is ignored (an OrderedDict's _metadata, for one).
  std::function<void(const ValuePtr& object, const ValuePtr& state)> build;
};

// How deeply containers may nest in an unpickled value; a state dict needs fewer than ten levels.
inline constexpr std::size_t max_nesting = 64;

// Unpickles one pickle starting at data[pos] and returns its value; on return `pos` is just past its STOP opcode.
// A value that contains itself (through the memo) or nests deeper than `max_nesting` is an error.
// `source` names the input in errors ("resnet.pth", "resnet.pth: archive/data.pkl"); `base_offset` is added to
// byte positions in errors (the pickle's offset in its file).
ValuePtr unpickle(std::span<const std::uint8_t> data, std::size_t& pos, const Hooks& hooks, const std::string& source,
                  std::size_t base_offset = 0);

// The opcode's name in Python's pickletools ("BINPUT"), or "unknown".
const char* opcode_name(std::uint8_t opcode);

}  // namespace edat::pickle
