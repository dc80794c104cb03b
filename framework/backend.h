// What the framework above the layer contract (the graph, the trainer, the tools) needs of the
// compute backend, without knowing it is oneDNN: layers alone use framework/dnnl_seam.h.
#pragma once

#include <exception>
#include <optional>
#include <string>

namespace obo::backend {

// Blocks until every primitive submitted has finished.
void wait();

// The backend's message when `e` is one of its errors (the graph names the layer around it), else
// nothing.
std::optional<std::string> failure(const std::exception& e);
extern const char* const kName;  // "oneDNN", for such messages

// Runs on `threads` OpenMP threads (0: as many as OpenMP chooses), each flushing subnormal floats
// to zero.
void use_threads(int threads);

}  // namespace obo::backend
