// Reading nets and solvers from Protobuf text files. Errors name the file, line and column:
//   "models/nin.prototxt:14:33: Message type "onebyone.ConvParameter" has no field named "outputs"."
#pragma once

#include <string>

#include "onebyone.pb.h"

namespace obo {

onebyone::NetParameter read_net(const std::string& path);
onebyone::SolverParameter read_solver(const std::string& path);
// Parses text already in memory; `origin` names it in errors.
void parse_text(const std::string& text, const std::string& origin, google::protobuf::Message* message);

}  // namespace obo
