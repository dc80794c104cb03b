#include "framework/io.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "framework/error.h"

namespace obo {
namespace fs = std::filesystem;

namespace {

std::string error_text() { return std::strerror(errno); }

const char* kind_of(mode_t mode) {
  if (S_ISDIR(mode)) return "a folder";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode) || S_ISBLK(mode)) return "a device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

void write_all(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("cannot write '{}': {}", path, error_text());
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
}

void sync_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail("cannot open '{}' to sync it: {}", path, error_text());
  const int status = ::fsync(fd);
  const int saved = errno;
  ::close(fd);
  if (status != 0) fail("cannot sync '{}': {}", path, std::strerror(saved));
}

void sync_folder_of(const std::string& path) {
  const std::string folder = fs::absolute(path).parent_path().string();
  const int fd = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;  // nothing more we can do; the rename itself is atomic
  ::fsync(fd);
  ::close(fd);
}

// Beside the target, so the rename stays within one file system; unique per process and call,
// so two writers never share one. The ".tmp-" infix marks it as removable once stale.
std::string temporary_for(const std::string& path) {
  static std::atomic<uint64_t> counter{0};
  return fmt::format("{}.tmp-{}-{}", path, ::getpid(), counter++);
}

void replace(const std::string& temporary, const std::string& path) {
  if (::rename(temporary.c_str(), path.c_str()) != 0) {
    const std::string reason = error_text();
    ::unlink(temporary.c_str());
    fail("cannot rename '{}' to '{}': {}", temporary, path, reason);
  }
  sync_folder_of(path);
}

}  // namespace

std::string read_file(const std::string& path, int64_t max_bytes, const std::string& what) {
  // O_NONBLOCK: opening a FIFO must not wait for a writer; fstat then refuses it.
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) fail("cannot open {} '{}': {}", what, path, error_text());
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    fail("{} '{}' is {}, not a file", what, path, kind_of(st.st_mode));
  }
  if (st.st_size > max_bytes) {
    ::close(fd);
    fail("{} '{}' is {} bytes, more than the {} bytes a {} may have", what, path, st.st_size, max_bytes, what);
  }
  std::string bytes(static_cast<size_t>(st.st_size), '\0');
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::read(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const std::string reason = n < 0 ? error_text() : "it shrank while being read";
      ::close(fd);
      fail("cannot read {} '{}': {}", what, path, reason);
    }
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  return bytes;
}

void write_file(const std::string& path, std::string_view content, const std::function<void()>& before_rename) {
  const std::string temporary = temporary_for(path);
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) fail("cannot write '{}': {}", path, error_text());  // the temporary file beside it cannot be made
  try {
    write_all(fd, content, temporary);
    if (::fsync(fd) != 0) fail("cannot sync '{}': {}", temporary, error_text());
  } catch (...) {
    ::close(fd);
    ::unlink(temporary.c_str());
    throw;
  }
  ::close(fd);
  if (before_rename) before_rename();
  replace(temporary, path);
}

void write_file_with(const std::string& path, const std::function<void(const std::string&)>& write) {
  const std::string temporary = temporary_for(path);
  try {
    write(temporary);
    sync_file(temporary);
  } catch (...) {
    ::unlink(temporary.c_str());
    throw;
  }
  replace(temporary, path);
}

void link_file(const std::string& from, const std::string& to) {
  const std::string temporary = temporary_for(to);
  if (::link(from.c_str(), temporary.c_str()) != 0) {
    write_file(to, read_file(from, std::numeric_limits<int64_t>::max(), "file"));
    return;
  }
  replace(temporary, to);
}

// --- Run folders -------------------------------------------------------------------------------

RunFolder RunFolder::claim(const std::string& path) {
  std::error_code error;
  fs::create_directories(path, error);
  if (error || !fs::is_directory(path))
    fail("cannot create the run folder '{}': {}", path, error ? error.message() : "a file of that name exists");
  const std::string lock = path + "/.lock";
  const int fd = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) fail("cannot write into the run folder '{}': {}", path, error_text());
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    char holder[32] = {};
    const ssize_t n = ::pread(fd, holder, sizeof holder - 1, 0);
    ::close(fd);
    fail("the run folder '{}' is in use by another run (process {}); wait for it, or choose another folder", path,
         n > 0 ? std::string(holder, static_cast<size_t>(n)) : "unknown");
  }
  const std::string pid = std::to_string(::getpid());
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
    const std::string reason = error_text();
    ::close(fd);
    fail("cannot write into the run folder '{}': {}", path, reason);
  }
  // We hold the lock: any temporary file here was left by a run that died before its rename.
  for (const auto& entry : fs::directory_iterator(path, error))
    if (entry.path().filename().string().find(".tmp-") != std::string::npos) fs::remove(entry.path(), error);
  return RunFolder(path, fd);
}

bool RunFolder::holds_run(const std::string& path) {
  for (const char* name : {"last.ckpt", "best.ckpt", "metrics.json", "metrics.csv", "summary.json", "sweep.json"})
    if (fs::exists(path + "/" + name)) return true;
  return false;
}

RunFolder RunFolder::claim_next(const std::string& base) {
  for (int k = 1;; ++k) {
    const std::string path = k == 1 ? base : fmt::format("{}-{}", base, k);
    if (holds_run(path)) continue;
    try {
      RunFolder folder = claim(path);
      if (!holds_run(path)) return folder;  // nobody wrote a run here between the check and the lock
    } catch (const Error&) {
      if (!fs::is_directory(path)) throw;  // cannot create it: the next number will not do better
      // in use by another run: try the next number
    }
  }
}

RunFolder::RunFolder(RunFolder&& other) noexcept : path_(std::move(other.path_)), lock_fd_(other.lock_fd_) {
  other.lock_fd_ = -1;
}

RunFolder& RunFolder::operator=(RunFolder&& other) noexcept {
  if (this != &other) {
    if (lock_fd_ >= 0) ::close(lock_fd_);
    path_ = std::move(other.path_);
    lock_fd_ = other.lock_fd_;
    other.lock_fd_ = -1;
  }
  return *this;
}

RunFolder::~RunFolder() {
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the lock
}

}  // namespace obo
