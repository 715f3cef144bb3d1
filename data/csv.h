// CSV reading for the label files of the datasets: a header row, then records of comma-separated fields.
//
// The parser follows RFC 4180 where label files need it and is lenient elsewhere, so that no input can crash it:
// quoted fields ("a, b", "say ""hi""", line breaks inside quotes), \n, \r\n or \r line ends, a UTF-8 byte-order mark,
// blank lines (skipped), an unterminated quote (the field runs to the end). Rows keep their own field count; the
// readers that use a table decide what a short row means (data/datasets.h counts it as a skip).
#pragma once

#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace edat::data {

struct CsvTable {
  std::string source;                          // the file name (or a label), for messages
  std::vector<std::string> header;             // column names, surrounding blanks trimmed
  std::vector<std::vector<std::string>> rows;  // the records after the header, fields as written (quotes removed)
  std::vector<std::size_t> lines;              // the 1-based line where each row starts

  // The index of column `name`, or -1 when the header has no such column.
  int find_column(std::string_view name) const;
  // The index of column `name`; throws edat::Error naming the file and the columns it has when it is missing.
  int column(std::string_view name) const;
  // "FILE:LINE" of row i, for messages.
  std::string where(std::size_t row) const;
};

// Parses CSV text; `source` names it in messages.
CsvTable parse_csv(std::string_view text, std::string source = "<csv>");
// Reads and parses a CSV file; throws edat::Error when the file cannot be read.
CsvTable read_csv(const std::filesystem::path& file);

// A finite decimal number ("31", " 24.5 ", "3e1"), or nothing for anything else (empty, text, nan, inf, "12abc").
std::optional<double> parse_number(std::string_view text);

// Appends `field` to `out` as one CSV field, quoted when it holds a comma, a quote or a line break.
void append_csv_field(std::string& out, std::string_view field);

}  // namespace edat::data
