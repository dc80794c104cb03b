// A table defined once, by its columns, and written three ways: CSV (a header line, then a line
// per row), JSON (an array of objects keyed by the columns' names) and an aligned table on the
// console. The run's metrics files, `compare`'s summary and `time`, `summary` and `cost`'s tables
// are all Records, so that a row cannot say one thing on the console and another in a file.
//
//   Records epochs({Column("epoch"), Column("test_accuracy", ".6f").shown("test %", ".2f", 100)});
//   epochs.add({3, 0.9871});
//   write_file("metrics.csv", epochs.csv());   // epoch,test_accuracy / 3,0.987100
//   std::cout << epochs.text();                 // epoch  test % / 3  98.71
//
// A value is an integer, a number, a text or a Spread (a mean and its standard deviation over
// seeds): in CSV a spread is two columns, <name>_mean and <name>_std; in JSON an object {"mean",
// "std"}; on the console "mean +- std". A number that is not finite is "nan" or "inf" in CSV and
// null in JSON (which has neither: both files stay valid); NaN (the mean of no values) is "-" on
// the console.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

namespace obo {

struct Spread {
  double mean = 0, std = 0;
};

// One column: its name (the CSV header and the JSON key) and how CSV writes a number (a fmt
// spec such as ".6f"; empty: as fmt writes it). shown() puts it on the console too, under a
// heading, with its own spec and a scale (100 shows a fraction as a percentage).
struct Column {
  explicit Column(std::string name, std::string spec = "") : name(std::move(name)), spec(std::move(spec)) {}
  Column shown(std::string heading_, std::string spec_ = "", double scale_ = 1) const {
    Column c = *this;
    c.heading = std::move(heading_);
    c.console_spec = std::move(spec_);
    c.scale = scale_;
    return c;
  }

  std::string name, spec;
  std::string heading, console_spec;  // heading empty: not on the console
  double scale = 1;
};

class Records {
 public:
  struct Value {
    template <typename T, std::enable_if_t<std::is_integral_v<T>, int> = 0>
    Value(T v) : v(static_cast<int64_t>(v)) {}
    Value(double v) : v(v) {}
    Value(std::string v) : v(std::move(v)) {}
    Value(const char* v) : v(std::string(v)) {}
    Value(Spread v) : v(v) {}
    std::variant<int64_t, double, std::string, Spread> v;
  };

  explicit Records(std::vector<Column> columns) : columns_(std::move(columns)) {}

  // A row: one value per column, in the columns' order.
  void add(std::vector<Value> row);
  // A last line on the console only (the files hold the rows alone): "total", and the sums.
  void set_total(std::vector<Value> row);

  std::string csv() const;
  nlohmann::json json() const;
  std::string text() const;
  size_t size() const { return rows_.size(); }

 private:
  void check(const std::vector<Value>& row) const;
  std::vector<Column> columns_;
  std::vector<std::vector<Value>> rows_;
  std::vector<Value> total_;
};

}  // namespace obo
