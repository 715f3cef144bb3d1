// CSV parsing (see csv.h): one pass over the text, a small state machine per field.
#include "data/csv.h"

#include <charconv>
#include <cmath>
#include <fstream>
#include <iterator>
#include <sstream>

#include "tensor/error.h"

namespace edat::data {

namespace {

std::string_view trim(std::string_view s) {
  const auto blank = [](char c) { return c == ' ' || c == '\t'; };
  while (!s.empty() && blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && blank(s.back())) s.remove_suffix(1);
  return s;
}

}  // namespace

int CsvTable::find_column(std::string_view name) const {
  for (std::size_t i = 0; i < header.size(); ++i)
    if (header[i] == name) return static_cast<int>(i);
  return -1;
}

int CsvTable::column(std::string_view name) const {
  const int i = find_column(name);
  if (i >= 0) return i;
  std::ostringstream columns;
  for (std::size_t j = 0; j < header.size(); ++j) columns << (j ? ", " : "") << "'" << header[j] << "'";
  EDAT_CHECK(!header.empty(), source << ": missing column '" << name << "': the file is empty (no header row)");
  throw Error(source + ": missing column '" + std::string(name) + "' (the header has " + columns.str() + ")");
}

std::string CsvTable::where(std::size_t row) const {
  return source + ":" + std::to_string(row < lines.size() ? lines[row] : 0);
}

CsvTable parse_csv(std::string_view text, std::string source) {
  CsvTable table;
  table.source = std::move(source);
  if (text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);  // UTF-8 byte-order mark

  std::vector<std::string> record;
  std::string field;
  std::size_t line = 1, record_line = 1;
  bool in_quotes = false, field_quoted = false, record_empty = true;

  const auto end_field = [&] {
    record.push_back(std::move(field));
    field.clear();
    field_quoted = false;
  };
  const auto end_record = [&] {
    end_field();
    // A blank line is one empty, unquoted field: skip it rather than make a row of it.
    if (!record_empty) {
      if (table.header.empty() && table.rows.empty()) {
        for (const std::string& name : record) table.header.emplace_back(trim(name));
      } else {
        table.rows.push_back(std::move(record));
        table.lines.push_back(record_line);
      }
    }
    record.clear();
    record_empty = true;
  };

  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_quotes) {
      if (c == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"') {
          field += '"';
          ++i;
        } else {
          in_quotes = false;
        }
      } else {
        if (c == '\n') ++line;
        field += c;
      }
      continue;
    }
    switch (c) {
      case ',':
        end_field();
        record_empty = false;
        break;
      case '\r':
        if (i + 1 < text.size() && text[i + 1] == '\n') ++i;
        [[fallthrough]];
      case '\n':
        end_record();
        ++line;
        record_line = line;
        break;
      case '"':
        // A quote opens a quoted section at the start of a field; elsewhere it is an ordinary character.
        if (field.empty() && !field_quoted) {
          in_quotes = field_quoted = true;
          record_empty = false;
        } else {
          field += c;
        }
        break;
      default:
        field += c;
        record_empty = false;
    }
  }
  if (!record_empty || !field.empty()) end_record();
  return table;
}

CsvTable read_csv(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  EDAT_CHECK(in, "cannot open CSV file '" << file.string() << "'");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EDAT_CHECK(!in.bad(), "error reading CSV file '" << file.string() << "'");
  return parse_csv(text, file.string());
}

std::optional<double> parse_number(std::string_view text) {
  text = trim(text);
  if (!text.empty() && text.front() == '+') text.remove_prefix(1);
  if (text.empty()) return std::nullopt;
  double value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || !std::isfinite(value)) return std::nullopt;
  return value;
}

void append_csv_field(std::string& out, std::string_view field) {
  if (field.find_first_of(",\"\r\n") == std::string_view::npos) {
    out += field;
    return;
  }
  out += '"';
  for (char c : field) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
}

}  // namespace edat::data
