#include "framework/checkpoint.h"

#include <zlib.h>

#include <google/protobuf/util/message_differencer.h>

#include <cctype>
#include <cmath>
#include <cstring>

#include "framework/error.h"
#include "framework/io.h"
#include "framework/solver.h"

namespace obo {
namespace {

// "OBOCKPT" and the format's version, one character. Format 1 is the binary Checkpoint message of
// proto/onebyone.proto, which grows by new fields only: every file written since the first
// commit that wrote checkpoints loads (tests/data/checkpoint-v1/). A change that an older reader
// would misread takes the next version.
constexpr char kMagic[7] = {'O', 'B', 'O', 'C', 'K', 'P', 'T'};
constexpr char kFormat = '1';
constexpr size_t kHeader = 8 + 8 + 4;
// Protobuf parses at most 2 GB; a larger file cannot be a checkpoint of ours.
constexpr int64_t kCheckpointLimit = (int64_t{1} << 31) - 1;

// Tensors from a checkpoint go into a net only if every value is finite.
void check_finite(const onebyone::BlobProto& blob, const std::string& what) {
  for (int i = 0; i < blob.data_size(); ++i)
    if (!std::isfinite(blob.data(i)))
      fail("checkpoint {} '{}' holds {} at index {}: not a usable checkpoint", what, blob.name(), blob.data(i), i);
}

}  // namespace

void save_checkpoint(const std::string& path, const onebyone::Checkpoint& checkpoint,
                     const std::function<void()>& before_rename) {
  std::string bytes(kMagic, 7);
  bytes += kFormat;
  const uint64_t length = checkpoint.ByteSizeLong();
  bytes.append(reinterpret_cast<const char*>(&length), 8);
  bytes.append(4, '\0');  // the CRC, once the payload is there
  if (!checkpoint.AppendToString(&bytes)) fail("cannot serialise the checkpoint for '{}'", path);
  const uint32_t crc = static_cast<uint32_t>(
      crc32(0, reinterpret_cast<const Bytef*>(bytes.data() + kHeader), static_cast<uInt>(length)));
  std::memcpy(bytes.data() + 16, &crc, 4);
  write_file(path, bytes, before_rename);
}

onebyone::Checkpoint load_checkpoint(const std::string& path) {
  return parse_checkpoint(read_file(path, kCheckpointLimit, "checkpoint"), path);
}

onebyone::Checkpoint parse_checkpoint(const std::string& bytes, const std::string& path) {
  if (bytes.size() < kHeader || std::memcmp(bytes.data(), kMagic, 7) != 0)
    fail("'{}' is not a OneByOne checkpoint (no OBOCKPT header)", path);
  if (bytes[7] != kFormat)
    fail("checkpoint '{}' is in format {}, which this OneByOne does not read (it reads format {}): it was written by "
         "a newer OneByOne",
         path, std::isprint(static_cast<unsigned char>(bytes[7])) ? std::string(1, bytes[7]) : fmt::format("0x{:02x}", bytes[7]),
         kFormat);
  uint64_t length;
  uint32_t crc;
  std::memcpy(&length, bytes.data() + 8, 8);
  std::memcpy(&crc, bytes.data() + 16, 4);
  if (bytes.size() - kHeader != length)
    fail("checkpoint '{}' is truncated or padded: the header promises {} bytes, the file holds {}", path, length,
         bytes.size() - kHeader);
  const char* payload = bytes.data() + kHeader;
  if (crc32(0, reinterpret_cast<const Bytef*>(payload), static_cast<uInt>(length)) != crc)
    fail("checkpoint '{}' is corrupted: its CRC-32 does not match", path);
  onebyone::Checkpoint checkpoint;
  if (!checkpoint.ParseFromArray(payload, static_cast<int>(length)))
    fail("checkpoint '{}' does not parse although its CRC-32 matches (written by another version?)", path);
  validate(checkpoint.solver(), fmt::format("checkpoint '{}': solver", path));
  return checkpoint;
}

void store_tensors(const std::vector<Tensor*>& tensors, const std::string& prefix,
                   google::protobuf::RepeatedPtrField<onebyone::BlobProto>* out) {
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor plain = tensors[i]->to_plain();
    onebyone::BlobProto* blob = out->Add();
    blob->set_name(prefix + std::to_string(i));
    for (int64_t d : plain.shape()) blob->add_shape(d);
    blob->mutable_data()->Add(plain.data(), plain.data() + plain.count());
  }
}

void restore_tensors(const google::protobuf::RepeatedPtrField<onebyone::BlobProto>& blobs,
                     const std::vector<Tensor*>& tensors, const std::string& what) {
  if (blobs.size() != static_cast<int>(tensors.size()))
    fail("the checkpoint holds {} {} tensors, expected {}", blobs.size(), what, tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    const onebyone::BlobProto& blob = blobs[static_cast<int>(i)];
    const Shape shape(blob.shape().begin(), blob.shape().end());
    if (shape != tensors[i]->shape() || blob.data_size() != tensors[i]->count())
      fail("{} tensor '{}' has shape {} in the checkpoint, expected {}", what, blob.name(), to_string(shape),
           to_string(tensors[i]->shape()));
    check_finite(blob, what + " tensor");
    Tensor plain(shape);
    std::copy(blob.data().begin(), blob.data().end(), plain.data());
    tensors[i]->assign_plain(plain);
  }
}

namespace {

void store(const std::string& name, const Tensor& value, onebyone::BlobProto* blob) {
  blob->set_name(name);
  for (int64_t d : value.shape()) blob->add_shape(d);
  blob->mutable_data()->Add(value.data(), value.data() + value.count());
}

// Into `value` (plain, of its final shape) from the checkpoint's blob number i of `what`.
void restore(const google::protobuf::RepeatedPtrField<onebyone::BlobProto>& blobs, size_t i, const std::string& what,
             const std::string& name, Tensor& value) {
  const onebyone::BlobProto& blob = blobs[static_cast<int>(i)];
  const Shape shape(blob.shape().begin(), blob.shape().end());
  if (blob.name() != name || shape != value.shape() || blob.data_size() != value.count())
    fail("checkpoint {} {} is '{}' {}, the net expects '{}' {}", what, i, blob.name(), to_string(shape), name,
         to_string(value.shape()));
  check_finite(blob, what);
  std::copy(blob.data().begin(), blob.data().end(), value.data());
}

}  // namespace

void store_params(Graph& graph, onebyone::Checkpoint* checkpoint) {
  for (Param* p : graph.params()) store(p->name, p->value, checkpoint->add_param());
  for (Buffer* b : graph.buffers()) store(b->name, b->value, checkpoint->add_buffer());
}

void restore_params(const onebyone::Checkpoint& checkpoint, Graph& graph) {
  const std::vector<Param*> params = graph.params();
  const std::vector<Buffer*> buffers = graph.buffers();
  if (checkpoint.param_size() != static_cast<int>(params.size()))
    fail("the checkpoint holds {} parameters, the net has {}", checkpoint.param_size(), params.size());
  if (checkpoint.buffer_size() != static_cast<int>(buffers.size()))
    fail("the checkpoint holds {} buffers, the net has {}", checkpoint.buffer_size(), buffers.size());
  for (size_t i = 0; i < params.size(); ++i) restore(checkpoint.param(), i, "parameter", params[i]->name, params[i]->value);
  for (size_t i = 0; i < buffers.size(); ++i) restore(checkpoint.buffer(), i, "buffer", buffers[i]->name, buffers[i]->value);
}

Graph graph_from(const onebyone::Checkpoint& checkpoint, const GraphOptions& options) {
  Graph graph(checkpoint.net(), options);
  restore_params(checkpoint, graph);
  return graph;
}

onebyone::NetParameter at_batch(onebyone::NetParameter net, int64_t batch) {
  for (LayerParameter& l : *net.mutable_layer())
    if (l.has_input_param())  // (asking any other layer for it would replace its own parameters)
      for (onebyone::Shape& s : *l.mutable_input_param()->mutable_shape())
        if (s.dim_size() > 0) s.set_dim(0, batch);
  return net;
}

std::string net_difference(const onebyone::NetParameter& a, const onebyone::NetParameter& b) {
  auto normalised = [](const onebyone::NetParameter& net) {  // the batch size is the evaluator's choice
    onebyone::NetParameter n = at_batch(net, 1);
    n.clear_name();
    return n;
  };
  google::protobuf::util::MessageDifferencer differencer;
  std::string report;
  differencer.ReportDifferencesToString(&report);
  differencer.Compare(normalised(a), normalised(b));
  return report;
}

}  // namespace obo
