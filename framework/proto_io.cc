#include "framework/proto_io.h"

#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/text_format.h>

#include "framework/error.h"
#include "framework/io.h"
#include "framework/registry.h"
#include "framework/solver.h"

namespace obo {
namespace {

// Keeps the first error with its position; Protobuf counts lines and columns from 0.
class FirstError : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int line, int column, const std::string& message) override {
    if (message_.empty()) message_ = fmt::format("{}:{}: {}", line + 1, column + 1, message);
  }
  const std::string& message() const { return message_; }

 private:
  std::string message_;
};

template <typename M>
M read(const std::string& path, const char* what) {
  M message;
  parse_text(read_file(path, kTextLimit, what), path, &message);
  return message;
}

}  // namespace

void parse_text(const std::string& text, const std::string& origin, google::protobuf::Message* message) {
  FirstError errors;
  google::protobuf::TextFormat::Parser parser;
  parser.RecordErrorsTo(&errors);
  if (parser.ParseFromString(text, message)) return;
  // A plugin's parameter block, read without the plugin: say where the type comes from.
  if (errors.message().find("Extension \"") != std::string::npos && errors.message().find("is not defined") != std::string::npos) {
    const std::vector<std::string> plugins = loaded_plugins();
    fail("{}:{} ({}: --plugin LIB or ONEBYONE_PLUGINS=LIB loads the library that defines it)", origin, errors.message(),
         plugins.empty() ? "no plugin is loaded" : fmt::format("plugins loaded: {}", fmt::join(plugins, ", ")));
  }
  fail("{}:{}", origin, errors.message());
}

onebyone::NetParameter read_net(const std::string& path) { return read<onebyone::NetParameter>(path, "model file"); }
onebyone::SolverParameter read_solver(const std::string& path) {
  const auto solver = read<onebyone::SolverParameter>(path, "solver file");
  validate(solver, fmt::format("solver file '{}'", path));
  return solver;
}

}  // namespace obo
