// framework/records.h: one table, three writers that agree.
#include <catch2/catch.hpp>

#include <cmath>

#include "framework/error.h"
#include "framework/records.h"

using namespace obo;

namespace {

Records runs() {
  Records t({Column("model").shown("model"), Column("size"), Column("test", ".4f").shown("test %", ".1f", 100),
             Column("rate", ".1f").shown("img/s", ".0f")});
  t.add({"nin", 1000, Spread{0.9512, 0.0031}, 2500.25});
  t.add({"nin-fc, wide", 60000, Spread{NAN, NAN}, 3000.0});
  return t;
}

}  // namespace

TEST_CASE("records: CSV spreads a mean +- sd over two columns and quotes what needs quoting", "[records]") {
  CHECK(runs().csv() ==
        "model,size,test_mean,test_std,rate\n"
        "nin,1000,0.9512,0.0031,2500.2\n"
        "\"nin-fc, wide\",60000,nan,nan,3000.0\n");
}

TEST_CASE("records: JSON has an object per row, a spread as {mean, std}, no number as null", "[records]") {
  const nlohmann::json j = runs().json();
  REQUIRE(j.size() == 2);
  CHECK(j[0]["model"] == "nin");
  CHECK(j[0]["size"] == 1000);
  CHECK(j[0]["test"]["mean"] == 0.9512);
  CHECK(j[0]["test"]["std"] == 0.0031);
  CHECK(j[0]["rate"] == 2500.25);
  CHECK(j[1]["test"]["mean"].is_null());
  CHECK(nlohmann::json::parse(j.dump()) == j);  // valid JSON, NaN and all
}

TEST_CASE("records: the console shows the chosen columns, aligned, scaled, with a total", "[records]") {
  Records t = runs();
  t.set_total({"total", 61000, Spread{NAN, NAN}, NAN});  // no sum of rates
  CHECK(t.text() ==
        "model              test %  img/s\n"
        "nin           95.1 +- 0.3   2500\n"
        "nin-fc, wide            -   3000\n"
        "total                   -      -\n");
}

TEST_CASE("records: a row of the wrong length or kind is refused by the column it breaks", "[records]") {
  Records t = runs();
  CHECK_THROWS_WITH(t.add({"nin", 1}), "a row of 2 values for a table of 4 columns (the first: 'model')");
  CHECK_THROWS_WITH(t.add({"nin", 1, 0.5, 1.0}), "column 'test' holds a mean +- sd in some rows and not in others");
  CHECK(t.size() == 2);
}
