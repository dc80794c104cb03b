#include "framework/records.h"

#include <algorithm>
#include <cmath>

#include "framework/error.h"

namespace obo {
namespace {

using Value = Records::Value;

// As fmt writes it: "nan", "inf" and "-inf" for what is not a number.
std::string number(double x, const std::string& spec) { return fmt::format(fmt::runtime("{:" + spec + "}"), x); }

// RFC 4180: a field holding a comma, a quote or a line break is quoted, its quotes doubled.
std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string quoted = "\"";
  for (char c : s) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  return quoted + "\"";
}

std::string csv_cell(const Column& column, const Value& value) {
  if (const auto* x = std::get_if<double>(&value.v)) return number(*x, column.spec);
  if (const auto* x = std::get_if<Spread>(&value.v)) return number(x->mean, column.spec) + "," + number(x->std, column.spec);
  if (const auto* x = std::get_if<std::string>(&value.v)) return csv_field(*x);
  return std::to_string(std::get<int64_t>(value.v));
}

// JSON has no NaN or infinity: null, said outright (not left to the writer).
nlohmann::json json_number(double x) { return std::isfinite(x) ? nlohmann::json(x) : nlohmann::json(nullptr); }

nlohmann::json json_cell(const Value& value) {
  if (const auto* x = std::get_if<double>(&value.v)) return json_number(*x);
  if (const auto* x = std::get_if<Spread>(&value.v)) return {{"mean", json_number(x->mean)}, {"std", json_number(x->std)}};
  if (const auto* x = std::get_if<std::string>(&value.v)) return *x;
  return std::get<int64_t>(value.v);
}

// On the console a mean of no values is no figure: "-".
std::string console_cell(const Column& column, const Value& value) {
  const auto shown = [&](double x) { return std::isnan(x) ? "-" : number(x * column.scale, column.console_spec); };
  if (const auto* x = std::get_if<double>(&value.v)) return shown(*x);
  if (const auto* x = std::get_if<Spread>(&value.v)) return std::isnan(x->mean) ? "-" : shown(x->mean) + " +- " + shown(x->std);
  if (const auto* x = std::get_if<std::string>(&value.v)) return *x;
  return std::to_string(std::get<int64_t>(value.v));
}

}  // namespace

void Records::check(const std::vector<Value>& row) const {
  if (row.size() != columns_.size())
    fail("a row of {} values for a table of {} columns (the first: '{}')", row.size(), columns_.size(),
         columns_.empty() ? "" : columns_[0].name);
  // A spread is two CSV columns: every row must agree on which columns hold one.
  if (!rows_.empty())
    for (size_t c = 0; c < row.size(); ++c)
      if (std::holds_alternative<Spread>(row[c].v) != std::holds_alternative<Spread>(rows_[0][c].v))
        fail("column '{}' holds a mean +- sd in some rows and not in others", columns_[c].name);
}

void Records::add(std::vector<Value> row) {
  check(row);
  rows_.push_back(std::move(row));
}

void Records::set_total(std::vector<Value> row) {
  check(row);
  total_ = std::move(row);
}

std::string Records::csv() const {
  std::vector<std::string> fields;
  for (size_t c = 0; c < columns_.size(); ++c) {
    const std::string& name = columns_[c].name;
    const bool spread = !rows_.empty() && std::holds_alternative<Spread>(rows_[0][c].v);
    fields.push_back(spread ? csv_field(name + "_mean") + "," + csv_field(name + "_std") : csv_field(name));
  }
  std::string out = fmt::format("{}\n", fmt::join(fields, ","));
  for (const auto& row : rows_) {
    fields.clear();
    for (size_t c = 0; c < columns_.size(); ++c) fields.push_back(csv_cell(columns_[c], row[c]));
    out += fmt::format("{}\n", fmt::join(fields, ","));
  }
  return out;
}

nlohmann::json Records::json() const {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& row : rows_) {
    nlohmann::json object = nlohmann::json::object();
    for (size_t c = 0; c < columns_.size(); ++c) object[columns_[c].name] = json_cell(row[c]);
    out.push_back(std::move(object));
  }
  return out;
}

std::string Records::text() const {
  std::vector<const std::vector<Value>*> rows;
  for (const auto& row : rows_) rows.push_back(&row);
  if (!total_.empty()) rows.push_back(&total_);
  // Every cell of the columns shown as text, under its heading; each column as wide as its widest
  // cell, texts to the left and numbers to the right.
  std::vector<std::vector<std::string>> lines(1 + rows.size());
  std::vector<size_t> width;
  std::vector<bool> left;
  for (size_t c = 0; c < columns_.size(); ++c) {
    if (columns_[c].heading.empty()) continue;
    lines[0].push_back(columns_[c].heading);
    for (size_t r = 0; r < rows.size(); ++r) lines[1 + r].push_back(console_cell(columns_[c], (*rows[r])[c]));
    width.push_back(0);
    for (const auto& line : lines) width.back() = std::max(width.back(), line.back().size());
    left.push_back(std::any_of(rows.begin(), rows.end(),
                               [&](const auto* row) { return std::holds_alternative<std::string>((*row)[c].v); }));
  }
  std::string out;
  for (const auto& line : lines) {
    std::string text;
    for (size_t k = 0; k < line.size(); ++k)
      text += fmt::format(left[k] ? "{}{:<{}}" : "{}{:>{}}", k ? "  " : "", line[k], width[k]);
    out += text.substr(0, text.find_last_not_of(' ') + 1) + "\n";
  }
  return out;
}

}  // namespace obo
