// The one exception type OneByOne throws. Messages name the file, line, layer or blob at fault
// and the expected and actual values, so a user (or a test) can act on the text alone.
#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace obo {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

template <typename... Args>
[[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) {
  throw Error(fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace obo
