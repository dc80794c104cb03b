// The framework above the layer contract (the graph, its passes, autograd and memory, the trainer,
// checkpoints, the backend's interface) includes no oneDNN: layers alone see it, through
// framework/dnnl_seam.h. Checked by the compiler (no test case: the build fails); layering_test.cc checks the other direction.
#include "framework/autograd.h"
#include "framework/backend.h"
#include "framework/checkpoint.h"
#include "framework/graph.h"
#include "framework/graph_memory.h"
#include "framework/passes.h"
#include "framework/registry.h"
#include "framework/trainer.h"

#ifdef ONEAPI_DNNL_DNNL_HPP
#error "a header of the framework above the layer contract includes oneDNN"
#endif
