// libFuzzer target for the CSV readers: arbitrary bytes through parse_csv, every dataset kind's row logic
// (samples_from_csv), the number and file-name parsers, and a write/re-parse round trip. Besides not crashing
// (under AddressSanitizer and UBSan), it checks the readers' bookkeeping: every row is kept or skipped exactly once,
// and every kept age is finite and within [0, max_age].
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "data/csv.h"
#include "data/datasets.h"
#include "tensor/error.h"

using namespace edat::data;

namespace {

void check(bool condition) {
  if (!condition) std::abort();  // libFuzzer reports the input
}

// Serialises a table with append_csv_field; re-parsing it must give the same table, except that a row (or header)
// made of one empty field is a blank line, which the parser skips, and a leading byte-order mark is dropped.
void round_trip(const CsvTable& table) {
  const auto single_empty = [](const std::vector<std::string>& row) { return row.size() == 1 && row[0].empty(); };
  if (table.header.empty() || single_empty(table.header) || table.header[0].starts_with("\xEF\xBB\xBF")) return;
  std::string text;
  const auto write_row = [&](const std::vector<std::string>& row) {
    for (std::size_t i = 0; i < row.size(); ++i) {
      if (i) text += ',';
      append_csv_field(text, row[i]);
    }
    text += '\n';
  };
  write_row(table.header);
  std::size_t rows = 0;
  for (const auto& row : table.rows)
    if (!single_empty(row)) write_row(row), ++rows;
  const CsvTable again = parse_csv(text);
  check(again.header == table.header);
  check(again.rows.size() == rows);
  std::size_t r = 0;
  for (const auto& row : table.rows)
    if (!single_empty(row)) check(again.rows[r++] == row);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const CsvTable table = parse_csv(text, "fuzz.csv");
  check(table.rows.size() == table.lines.size());
  for (std::size_t i = 1; i < table.lines.size(); ++i) check(table.lines[i] > table.lines[i - 1]);
  round_trip(table);

  DatasetOptions options;
  options.root = "/nonexistent-edat-fuzz-root";
  options.check_files = size % 2 == 0;  // half the inputs also stat their (missing) files
  options.warn = false;
  for (const std::string& kind : dataset_kinds()) {
    ReadReport report;
    try {
      const std::vector<Sample> samples = samples_from_csv(kind, table, options, report);
      check(samples.size() + report.skipped_total() == report.read);
      check(report.read == table.rows.size());
      check(report.examples.size() <= ReadReport::max_examples);
      for (const Sample& s : samples) check(std::isfinite(s.age) && s.age >= 0 && s.age <= options.max_age);
      (void)report.summary();
    } catch (const edat::Error&) {
      // a missing column: the one error a table can cause
    }
  }
  for (const auto& row : table.rows)
    for (const std::string& field : row) {
      if (const auto number = parse_number(field)) check(std::isfinite(*number));
      (void)age_from_file_name(field);
      (void)cacd_identity(field);
    }
  return 0;
}
