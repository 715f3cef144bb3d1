#include "weights/pickle.h"

#include <bit>
#include <cstdio>
#include <cstring>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "tensor/error.h"

namespace edat::pickle {

static_assert(std::endian::native == std::endian::little, "the pickle reader assumes a little-endian host");

const char* opcode_name(std::uint8_t opcode) {
  switch (opcode) {
    // clang-format off
    case 0x28: return "MARK";          case 0x29: return "EMPTY_TUPLE";   case 0x2e: return "STOP";
    case 0x30: return "POP";           case 0x31: return "POP_MARK";      case 0x32: return "DUP";
    case 0x42: return "BINBYTES";      case 0x43: return "SHORT_BINBYTES"; case 0x46: return "FLOAT";
    case 0x47: return "BINFLOAT";      case 0x49: return "INT";           case 0x4a: return "BININT";
    case 0x4b: return "BININT1";       case 0x4c: return "LONG";          case 0x4d: return "BININT2";
    case 0x4e: return "NONE";          case 0x50: return "PERSID";        case 0x51: return "BINPERSID";
    case 0x52: return "REDUCE";        case 0x53: return "STRING";        case 0x54: return "BINSTRING";
    case 0x55: return "SHORT_BINSTRING"; case 0x56: return "UNICODE";     case 0x58: return "BINUNICODE";
    case 0x5d: return "EMPTY_LIST";    case 0x61: return "APPEND";        case 0x62: return "BUILD";
    case 0x63: return "GLOBAL";        case 0x64: return "DICT";          case 0x65: return "APPENDS";
    case 0x67: return "GET";           case 0x68: return "BINGET";        case 0x69: return "INST";
    case 0x6a: return "LONG_BINGET";   case 0x6c: return "LIST";          case 0x6f: return "OBJ";
    case 0x70: return "PUT";           case 0x71: return "BINPUT";        case 0x72: return "LONG_BINPUT";
    case 0x73: return "SETITEM";       case 0x74: return "TUPLE";         case 0x75: return "SETITEMS";
    case 0x7d: return "EMPTY_DICT";    case 0x80: return "PROTO";         case 0x81: return "NEWOBJ";
    case 0x82: return "EXT1";          case 0x83: return "EXT2";          case 0x84: return "EXT4";
    case 0x85: return "TUPLE1";        case 0x86: return "TUPLE2";        case 0x87: return "TUPLE3";
    case 0x88: return "NEWTRUE";       case 0x89: return "NEWFALSE";      case 0x8a: return "LONG1";
    case 0x8b: return "LONG4";         case 0x8c: return "SHORT_BINUNICODE"; case 0x8d: return "BINUNICODE8";
    case 0x8e: return "BINBYTES8";     case 0x8f: return "EMPTY_SET";     case 0x90: return "ADDITEMS";
    case 0x91: return "FROZENSET";     case 0x92: return "NEWOBJ_EX";     case 0x93: return "STACK_GLOBAL";
    case 0x94: return "MEMOIZE";       case 0x95: return "FRAME";         case 0x96: return "BYTEARRAY8";
    case 0x97: return "NEXT_BUFFER";   case 0x98: return "READONLY_BUFFER";
    // clang-format on
    default:
      return "unknown";
  }
}

Value::~Value() {
  std::vector<ValuePtr> pending;
  auto take_children = [&pending](Value& value) {
    for (ValuePtr& item : value.items) pending.push_back(std::move(item));
    for (auto& [key, item] : value.entries) {
      pending.push_back(std::move(key));
      pending.push_back(std::move(item));
    }
    value.items.clear();
    value.entries.clear();
  };
  take_children(*this);
  while (!pending.empty()) {
    ValuePtr value = std::move(pending.back());
    pending.pop_back();
    if (value && value.use_count() == 1) take_children(*value);  // its own destructor then has nothing to recurse into
  }
}

std::string Value::describe() const {
  switch (kind) {
    case Kind::none:
      return "None";
    case Kind::boolean:
      return boolean ? "True" : "False";
    case Kind::integer:
      return text.empty() ? "int " + std::to_string(integer) : "int (beyond 64 bits)";
    case Kind::floating:
      return "float " + std::to_string(floating);
    case Kind::string:
      return "str '" + text + "'";
    case Kind::bytes:
      return "bytes of length " + std::to_string(text.size());
    case Kind::tuple:
      return "tuple of " + std::to_string(items.size());
    case Kind::list:
      return "list of " + std::to_string(items.size());
    case Kind::dict:
      return "dict of " + std::to_string(entries.size());
    case Kind::global:
      return "global " + text;
    case Kind::object:
      return type;
  }
  return "?";
}

namespace {

using Kind = Value::Kind;

// The pickle machine: a stack of values, a stack of marks (stack heights) and the memo.
class Unpickler {
 public:
  Unpickler(std::span<const std::uint8_t> data, std::size_t pos, const Hooks& hooks, const std::string& source,
            std::size_t base_offset)
      : data_(data), pos_(pos), hooks_(hooks), source_(source), base_(base_offset) {}
  Unpickler(const Unpickler&) = delete;
  Unpickler& operator=(const Unpickler&) = delete;
  // A pickle that failed may have left containers that hold themselves: empty them, or they would leak.
  ~Unpickler() {
    if (!succeeded_) break_cycles();
  }

  ValuePtr run();
  std::size_t pos() const { return pos_; }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    std::ostringstream out;
    out << source_ << ": " << what;
    if (in_op_) out << " (pickle opcode '" << opcode_name(op_) << "' at byte " << base_ + op_pos_ << ")";
    throw Error(out.str());
  }

  // ---- reading the input, every read bounds-checked ----
  const std::uint8_t* take(std::size_t n) {
    if (n > data_.size() - pos_) {
      std::ostringstream out;
      out << "truncated pickle: needs " << n << " more bytes at byte " << base_ + pos_ << " but the data ends at byte "
          << base_ + data_.size();
      fail(out.str());
    }
    const std::uint8_t* p = data_.data() + pos_;
    pos_ += n;
    return p;
  }
  template <class T>
  T read() {
    T value;
    std::memcpy(&value, take(sizeof(T)), sizeof(T));
    return value;
  }
  std::string read_string(std::uint64_t n) {
    if (n > data_.size() - pos_) take(static_cast<std::size_t>(n));  // fails with the truncation message
    const std::uint8_t* p = take(static_cast<std::size_t>(n));
    return std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(n));
  }
  std::string read_line() {  // GLOBAL's "module\n" and "name\n"
    std::size_t end = pos_;
    while (end < data_.size() && data_[end] != '\n') ++end;
    if (end == data_.size()) fail("truncated pickle: a GLOBAL name lacks its newline");
    std::string line(reinterpret_cast<const char*>(data_.data() + pos_), end - pos_);
    pos_ = end + 1;
    return line;
  }

  // ---- the stacks ----
  void push(ValuePtr value) { stack_.push_back(std::move(value)); }
  ValuePtr pop() {
    if (stack_.size() <= floor()) fail("pickle stack underflow");
    ValuePtr value = std::move(stack_.back());
    stack_.pop_back();
    return value;
  }
  ValuePtr& top() {
    if (stack_.size() <= floor()) fail("pickle stack underflow");
    return stack_.back();
  }
  std::size_t floor() const { return marks_.empty() ? 0 : marks_.back(); }
  std::vector<ValuePtr> pop_to_mark() {  // the items above the last MARK, which is removed
    if (marks_.empty()) fail("pickle MARK missing");
    const std::size_t mark = marks_.back();
    marks_.pop_back();
    std::vector<ValuePtr> items(std::make_move_iterator(stack_.begin() + static_cast<std::ptrdiff_t>(mark)),
                                std::make_move_iterator(stack_.end()));
    stack_.resize(mark);
    return items;
  }

  void memo_put(std::uint64_t index) { memo_[index] = top(); }
  void memo_get(std::uint64_t index) {
    const auto found = memo_.find(index);
    if (found == memo_.end()) fail("memo index " + std::to_string(index) + " was never stored");
    push(found->second);
  }

  static ValuePtr make_integer(std::int64_t v) {
    auto value = Value::make(Kind::integer);
    value->integer = v;
    return value;
  }
  static ValuePtr make_text(Kind kind, std::string text) {
    auto value = Value::make(kind);
    value->text = std::move(text);
    return value;
  }
  static ValuePtr make_tuple(std::vector<ValuePtr> items) {
    auto value = Value::make(Kind::tuple);
    value->items = std::move(items);
    return value;
  }
  ValuePtr long1(std::size_t n);
  void check_nesting(const ValuePtr& root) const;
  void break_cycles();
  void set_items(std::vector<ValuePtr> items);
  void append_items(std::vector<ValuePtr> items);
  ValuePtr call(const ValuePtr& callable, const ValuePtr& args);

  std::span<const std::uint8_t> data_;
  std::size_t pos_;
  const Hooks& hooks_;
  const std::string& source_;
  std::size_t base_;
  std::uint8_t op_ = 0;
  std::size_t op_pos_ = 0;
  bool in_op_ = false;  // errors name the opcode being run
  std::vector<ValuePtr> stack_;
  std::vector<std::size_t> marks_;
  std::unordered_map<std::uint64_t, ValuePtr> memo_;  // a map: indices may have gaps
  // Every container that APPEND/SETITEM changed: only a change to an existing container can close a cycle.
  std::vector<std::weak_ptr<Value>> changed_;
  bool succeeded_ = false;
};

// Walks the result and every changed container (any cycle passes through one) without recursion, each shared value
// once: a container reached again while it is still open holds itself, and nothing may nest deeper than max_nesting.
void Unpickler::check_nesting(const ValuePtr& result) const {
  struct Open {
    const Value* value;
    std::size_t next_child;
  };
  auto child = [](const Value& v, std::size_t i) -> const Value* {
    if (i < v.items.size()) return v.items[i].get();
    i -= v.items.size();
    const auto& [key, item] = v.entries[i / 2];
    return (i % 2 ? item : key).get();
  };
  auto child_count = [](const Value& v) { return v.items.size() + 2 * v.entries.size(); };
  std::unordered_set<const Value*> open, finished;
  std::vector<ValuePtr> roots{result};
  for (const std::weak_ptr<Value>& weak : changed_)
    if (ValuePtr value = weak.lock()) roots.push_back(std::move(value));
  for (const ValuePtr& root : roots) {
    if (finished.count(root.get())) continue;
    std::vector<Open> path{{root.get(), 0}};
    open.insert(root.get());
    while (!path.empty()) {
      Open& top = path.back();
      if (top.next_child == child_count(*top.value)) {
        open.erase(top.value);
        finished.insert(top.value);
        path.pop_back();
        continue;
      }
      const Value* next = child(*top.value, top.next_child++);
      if (finished.count(next)) continue;
      if (open.count(next)) fail("the pickle holds a " + next->describe() + " that contains itself");
      if (path.size() >= max_nesting)
        fail("the pickle nests containers more than " + std::to_string(max_nesting) + " deep");
      open.insert(next);
      path.push_back({next, 0});
    }
  }
}

void Unpickler::break_cycles() {
  for (const std::weak_ptr<Value>& weak : changed_) {
    if (ValuePtr value = weak.lock()) {
      std::vector<ValuePtr> items = std::move(value->items);
      std::vector<std::pair<ValuePtr, ValuePtr>> entries = std::move(value->entries);
      value->items.clear();
      value->entries.clear();
    }
  }
}

// LONG1: n bytes of little-endian two's complement.
ValuePtr Unpickler::long1(std::size_t n) {
  const std::uint8_t* bytes = take(n);
  if (n > 8) {
    auto value = Value::make(Kind::integer);
    value->text.assign(reinterpret_cast<const char*>(bytes), n);
    return value;
  }
  std::uint64_t u = 0;
  for (std::size_t i = 0; i < n; ++i) u |= static_cast<std::uint64_t>(bytes[i]) << (8 * i);
  if (n > 0 && n < 8 && (bytes[n - 1] & 0x80)) u |= ~std::uint64_t{0} << (8 * n);  // sign-extend
  return make_integer(static_cast<std::int64_t>(u));
}

void Unpickler::set_items(std::vector<ValuePtr> items) {
  ValuePtr dict = top();
  if (dict->kind != Kind::dict) fail("SETITEM(S) on a " + dict->describe() + ", not a dict");
  if (items.size() % 2) fail("SETITEMS with an odd number of items");
  changed_.push_back(dict);
  for (std::size_t i = 0; i < items.size(); i += 2) {
    bool replaced = false;  // a key set twice keeps its first position, as in a Python dict
    if (items[i]->kind == Kind::string) {
      for (auto& [key, value] : dict->entries) {
        if (key->kind == Kind::string && key->text == items[i]->text) {
          value = items[i + 1];
          replaced = true;
          break;
        }
      }
    }
    if (!replaced) dict->entries.emplace_back(items[i], items[i + 1]);
  }
}

void Unpickler::append_items(std::vector<ValuePtr> items) {
  ValuePtr list = top();
  if (list->kind != Kind::list) fail("APPEND(S) on a " + list->describe() + ", not a list");
  changed_.push_back(list);
  for (auto& item : items) list->items.push_back(std::move(item));
}

ValuePtr Unpickler::call(const ValuePtr& callable, const ValuePtr& args) {
  if (args->kind != Kind::tuple) fail("call arguments are a " + args->describe() + ", not a tuple");
  if (!hooks_.call) fail("cannot call " + callable->describe());
  ValuePtr result = hooks_.call(callable, args);
  if (!result) fail("calling " + callable->describe() + " gave nothing");
  return result;
}

ValuePtr Unpickler::run() {
  while (true) {
    op_pos_ = pos_;
    in_op_ = false;
    if (pos_ >= data_.size())
      fail("truncated pickle: the data ends at byte " + std::to_string(base_ + pos_) + " before STOP");
    op_ = *take(1);
    in_op_ = true;
    switch (op_) {
      case 0x80: {  // PROTO
        const std::uint8_t proto = read<std::uint8_t>();
        if (proto > 5) fail("pickle protocol " + std::to_string(proto) + " is unknown");
        break;
      }
      case 0x95:
        read<std::uint64_t>();
        break;    // FRAME: a length hint; the data follows inline
      case 0x2e:  // STOP
        if (stack_.size() != 1 || !marks_.empty()) fail("pickle ends with a malformed stack");
        in_op_ = false;
        check_nesting(stack_.back());
        succeeded_ = true;
        return stack_.back();
      case 0x28:
        marks_.push_back(stack_.size());
        break;  // MARK
      case 0x30:
        pop();
        break;  // POP
      case 0x31:
        pop_to_mark();
        break;  // POP_MARK
      case 0x32:
        push(top());
        break;  // DUP

      // ---- constants ----
      case 0x4e:
        push(Value::make(Kind::none));
        break;      // NONE
      case 0x88:    // NEWTRUE
      case 0x89: {  // NEWFALSE
        auto value = Value::make(Kind::boolean);
        value->boolean = op_ == 0x88;
        push(value);
        break;
      }
      case 0x4a:
        push(make_integer(read<std::int32_t>()));
        break;  // BININT
      case 0x4b:
        push(make_integer(read<std::uint8_t>()));
        break;  // BININT1
      case 0x4d:
        push(make_integer(read<std::uint16_t>()));
        break;  // BININT2
      case 0x8a:
        push(long1(read<std::uint8_t>()));
        break;      // LONG1
      case 0x47: {  // BINFLOAT: big-endian f64
        std::uint64_t bits = 0;
        const std::uint8_t* b = take(8);
        for (int i = 0; i < 8; ++i) bits = (bits << 8) | b[i];
        auto value = Value::make(Kind::floating);
        std::memcpy(&value->floating, &bits, 8);
        push(value);
        break;
      }
      case 0x58:
        push(make_text(Kind::string, read_string(read<std::uint32_t>())));
        break;  // BINUNICODE
      case 0x8c:
        push(make_text(Kind::string, read_string(read<std::uint8_t>())));
        break;  // SHORT_BINUNICODE
      case 0x8d:
        push(make_text(Kind::string, read_string(read<std::uint64_t>())));
        break;  // BINUNICODE8
      case 0x42:
        push(make_text(Kind::bytes, read_string(read<std::uint32_t>())));
        break;  // BINBYTES
      case 0x43:
        push(make_text(Kind::bytes, read_string(read<std::uint8_t>())));
        break;  // SHORT_BINBYTES
      case 0x8e:
        push(make_text(Kind::bytes, read_string(read<std::uint64_t>())));
        break;  // BINBYTES8

      // ---- containers ----
      case 0x29:
        push(make_tuple({}));
        break;  // EMPTY_TUPLE
      case 0x74:
        push(make_tuple(pop_to_mark()));
        break;      // TUPLE
      case 0x85:    // TUPLE1
      case 0x86:    // TUPLE2
      case 0x87: {  // TUPLE3
        std::vector<ValuePtr> items(op_ - 0x84);
        for (std::size_t i = items.size(); i-- > 0;) items[i] = pop();
        push(make_tuple(std::move(items)));
        break;
      }
      case 0x5d:
        push(Value::make(Kind::list));
        break;      // EMPTY_LIST
      case 0x6c: {  // LIST
        auto list = Value::make(Kind::list);
        list->items = pop_to_mark();
        push(list);
        break;
      }
      case 0x61: {  // APPEND
        ValuePtr item = pop();
        append_items({item});
        break;
      }
      case 0x65:
        append_items(pop_to_mark());
        break;  // APPENDS
      case 0x7d:
        push(Value::make(Kind::dict));
        break;      // EMPTY_DICT
      case 0x64: {  // DICT
        std::vector<ValuePtr> items = pop_to_mark();
        push(Value::make(Kind::dict));
        set_items(std::move(items));
        break;
      }
      case 0x73: {  // SETITEM
        ValuePtr value = pop();
        ValuePtr key = pop();
        set_items({key, value});
        break;
      }
      case 0x75:
        set_items(pop_to_mark());
        break;  // SETITEMS

      // ---- memo ----
      case 0x71:
        memo_put(read<std::uint8_t>());
        break;  // BINPUT
      case 0x72:
        memo_put(read<std::uint32_t>());
        break;  // LONG_BINPUT
      case 0x94:
        memo_put(memo_.size());
        break;  // MEMOIZE
      case 0x68:
        memo_get(read<std::uint8_t>());
        break;  // BINGET
      case 0x6a:
        memo_get(read<std::uint32_t>());
        break;  // LONG_BINGET

      // ---- objects: named, never imported; the hooks decide what calling them means ----
      case 0x63: {  // GLOBAL "module\nname\n"
        std::string module = read_line();
        std::string name = read_line();
        push(make_text(Kind::global, module + "." + name));
        break;
      }
      case 0x93: {  // STACK_GLOBAL
        ValuePtr name = pop();
        ValuePtr module = pop();
        if (module->kind != Kind::string || name->kind != Kind::string) fail("STACK_GLOBAL needs two strings");
        push(make_text(Kind::global, module->text + "." + name->text));
        break;
      }
      case 0x52:    // REDUCE: callable(*args)
      case 0x81: {  // NEWOBJ: cls.__new__(cls, *args)
        ValuePtr args = pop();
        ValuePtr callable = pop();
        push(call(callable, args));
        break;
      }
      case 0x62: {  // BUILD
        ValuePtr state = pop();
        if (hooks_.build) hooks_.build(top(), state);
        break;
      }
      case 0x51: {  // BINPERSID
        ValuePtr pid = pop();
        if (!hooks_.persistent_load) fail("a persistent id (" + pid->describe() + ") but no way to load it");
        ValuePtr value = hooks_.persistent_load(pid);
        if (!value) fail("persistent id " + pid->describe() + " gave nothing");
        push(value);
        break;
      }
      default: {
        char hex[8];
        std::snprintf(hex, sizeof hex, "0x%02x", op_);
        std::ostringstream out;
        out << source_ << ": unsupported pickle opcode " << hex << " ('" << opcode_name(op_) << "') at byte "
            << base_ + op_pos_;
        throw Error(out.str());
      }
    }
  }
}

}  // namespace

ValuePtr unpickle(std::span<const std::uint8_t> data, std::size_t& pos, const Hooks& hooks, const std::string& source,
                  std::size_t base_offset) {
  EDAT_CHECK(pos <= data.size(), source << ": pickle starts at byte " << base_offset + pos << ", beyond the end");
  Unpickler unpickler(data, pos, hooks, source, base_offset);
  ValuePtr value = unpickler.run();
  pos = unpickler.pos();
  return value;
}

}  // namespace edat::pickle
