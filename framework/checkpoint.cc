#include "framework/checkpoint.h"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "framework/error.h"

namespace obo {
namespace {

constexpr char kMagic[8] = {'O', 'B', 'O', 'C', 'K', 'P', 'T', '1'};
constexpr size_t kHeader = 8 + 8 + 4;

void write_all(int fd, const char* data, size_t size, const std::string& path) {
  while (size > 0) {
    const ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("cannot write '{}': {}", path, std::strerror(errno));
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
}

void sync_folder(const std::string& path) {
  const std::string folder = std::filesystem::absolute(path).parent_path().string();
  const int fd = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return;  // nothing more we can do; the rename itself is atomic
  ::fsync(fd);
  ::close(fd);
}

}  // namespace

void save_checkpoint(const std::string& path, const onebyone::Checkpoint& checkpoint,
                     const std::function<void()>& before_rename) {
  std::string payload;
  if (!checkpoint.SerializeToString(&payload)) fail("cannot serialise the checkpoint for '{}'", path);
  std::string header(kMagic, 8);
  const uint64_t length = payload.size();
  const uint32_t crc = static_cast<uint32_t>(
      crc32(0, reinterpret_cast<const Bytef*>(payload.data()), static_cast<uInt>(payload.size())));
  header.append(reinterpret_cast<const char*>(&length), 8);
  header.append(reinterpret_cast<const char*>(&crc), 4);

  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) fail("cannot create '{}': {}", tmp, std::strerror(errno));
  try {
    write_all(fd, header.data(), header.size(), tmp);
    write_all(fd, payload.data(), payload.size(), tmp);
    if (::fsync(fd) != 0) fail("cannot sync '{}': {}", tmp, std::strerror(errno));
  } catch (...) {
    ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  ::close(fd);
  if (before_rename) before_rename();
  if (::rename(tmp.c_str(), path.c_str()) != 0) fail("cannot rename '{}' to '{}': {}", tmp, path, std::strerror(errno));
  sync_folder(path);
}

onebyone::Checkpoint load_checkpoint(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) fail("cannot open checkpoint '{}'", path);
  const std::string bytes((std::istreambuf_iterator<char>(file)), {});
  if (bytes.size() < kHeader || std::memcmp(bytes.data(), kMagic, 8) != 0)
    fail("'{}' is not a OneByOne checkpoint (no OBOCKPT1 header)", path);
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
    Tensor plain(shape);
    std::copy(blob.data().begin(), blob.data().end(), plain.data());
    tensors[i]->assign_plain(plain);
  }
}

void store_params(Graph& graph, onebyone::Checkpoint* checkpoint) {
  for (Param* p : graph.params()) {
    onebyone::BlobProto* blob = checkpoint->add_param();
    blob->set_name(p->name);
    for (int64_t d : p->shape) blob->add_shape(d);
    blob->mutable_data()->Add(p->value.data(), p->value.data() + p->value.count());
  }
}

void restore_params(const onebyone::Checkpoint& checkpoint, Graph& graph) {
  const std::vector<Param*> params = graph.params();
  if (checkpoint.param_size() != static_cast<int>(params.size()))
    fail("the checkpoint holds {} parameters, the net has {}", checkpoint.param_size(), params.size());
  for (size_t i = 0; i < params.size(); ++i) {
    const onebyone::BlobProto& blob = checkpoint.param(static_cast<int>(i));
    const Shape shape(blob.shape().begin(), blob.shape().end());
    if (blob.name() != params[i]->name || shape != params[i]->shape || blob.data_size() != count(shape))
      fail("checkpoint parameter {} is '{}' {}, the net expects '{}' {}", i, blob.name(), to_string(shape),
           params[i]->name, to_string(params[i]->shape));
    std::copy(blob.data().begin(), blob.data().end(), params[i]->value.data());
  }
}

}  // namespace obo
