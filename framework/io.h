// Files as OneByOne reads and writes them, so that no mistake of a user's loses a run:
//
//   std::string text = read_file("models/nin.prototxt", kTextLimit, "model");
//   write_file("runs/nin/metrics.json", json);           // atomic replacement
//   RunFolder run = RunFolder::claim_next("runs/nin");   // runs/nin, or runs/nin-2 if that holds a run
//
// Reading takes regular files only: a FIFO or a device named as a model, checkpoint, image or
// data file is refused by name (never waited on, never read forever), and so is a file larger
// than the caller's limit, before anything is allocated for it.
//
// Writing replaces a file atomically: the new content goes to a temporary file of a unique name
// beside it, is synced, and is renamed over the old one, and the folder is synced. A kill -9, a
// full disk or a crash at any moment leaves either the old file or the new one, whole.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace obo {

constexpr int64_t kTextLimit = int64_t{16} << 20;  // model and solver files: 16 MB

// The whole file. `what` names it in errors: "cannot open model 'x.prototxt': No such file".
std::string read_file(const std::string& path, int64_t max_bytes, const std::string& what);

// Replaces `path` with `content` atomically. `before_rename` runs once the temporary file is
// complete and synced: a test's crash point.
void write_file(const std::string& path, std::string_view content, const std::function<void()>& before_rename = {});
// The same for files another writer produces (libpng, gnuplot, dot): `write` is given a
// temporary path to create; that file then replaces `path` atomically. If `write` throws, the
// temporary file is removed and `path` is untouched.
void write_file_with(const std::string& path, const std::function<void(const std::string& temporary)>& write);
// Makes `to` another name of the file `from` (a hard link, or a copy where the file system has
// none), replacing `to` atomically: best.ckpt from last.ckpt.
void link_file(const std::string& from, const std::string& to);

// A folder a run writes into, created if needed and locked for the life of this object: a
// second process that tries to write into it is refused with the first one's process id, and
// the lock goes with the process however it ends (kill -9 included). Temporary files left by a
// run that was killed between writing and renaming are removed when the folder is claimed.
class RunFolder {
 public:
  // `path` itself; throws when it cannot be created or written, or another run holds it.
  static RunFolder claim(const std::string& path);
  // The first of base, base-2, base-3, ... that holds no run: a new run never replaces an old
  // one's files.
  static RunFolder claim_next(const std::string& base);
  // Whether `path` holds what a run or a comparison writes (checkpoints, metrics, a summary).
  static bool holds_run(const std::string& path);

  RunFolder(RunFolder&& other) noexcept;
  RunFolder& operator=(RunFolder&& other) noexcept;
  RunFolder(const RunFolder&) = delete;
  RunFolder& operator=(const RunFolder&) = delete;
  ~RunFolder();

  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  RunFolder(std::string path, int lock_fd) : path_(std::move(path)), lock_fd_(lock_fd) {}
  std::string path_;
  int lock_fd_ = -1;
};

}  // namespace obo
