// The framework above the layer contract (the graph, its passes, autograd and memory, the trainer,
// checkpoints, the backend's interface) includes no oneDNN in its headers: layers alone see it, through
// framework/dnnl_seam.h. Checked by the compiler (no test case: the build fails); layering_test.cc checks the other direction.
#include "framework/autograd.h"
#include "framework/backend.h"
#include "framework/checkpoint.h"
#include "framework/data/dataset.h"
#include "framework/filler.h"
#include "framework/graph.h"
#include "framework/graph_memory.h"
#include "framework/inference.h"
#include "framework/io.h"
#include "framework/memory_plan.h"
#include "framework/net_builder.h"
#include "framework/optimizer.h"
#include "framework/passes.h"
#include "framework/proto_io.h"
#include "framework/random.h"
#include "framework/registry.h"
#include "framework/trainer.h"

#ifdef ONEAPI_DNNL_DNNL_HPP
#error "a header of the framework above the layer contract includes oneDNN"
#endif
