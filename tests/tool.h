// The onebyone tool run as a user runs it, for the tests of the command line.
#pragma once

#include <png.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <utility>

#include <catch2/catch.hpp>

#include <fmt/format.h>

namespace obo::test {

struct ToolRun {
  int status = -1;     // the exit status, 128 + the signal that ended it, or 124 on timeout
  std::string output;  // stdout and stderr, interleaved as a terminal shows them
};

// A shell command line, its output and status.
inline ToolRun shell(const std::string& command) {
  ToolRun r;
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) return r;
  char buffer[4096];
  for (size_t n; (n = fread(buffer, 1, sizeof buffer, pipe)) > 0;) r.output.append(buffer, n);
  const int status = pclose(pipe);
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  if (r.status == 137) r.status = 124;  // timeout's SIGKILL
  return r;
}

// `onebyone ARGS` (ARGS as a shell would split them), from folder `dir` if given, after the
// shell commands `setup` (a ulimit, say). A run that takes longer than `timeout` seconds is
// killed: a test of a hang fails, it does not hang.
inline ToolRun run_tool(const std::string& args, const std::string& dir = "", int timeout = 300,
                        const std::string& setup = "") {
  return shell(fmt::format("{}{}timeout -s KILL {} {} {} 2>&1", dir.empty() ? "" : "cd '" + dir + "' && ",
                           setup.empty() ? "" : setup + " && ", timeout, ONEBYONE_TOOL, args));
}

// A child process, killed and reaped if the test leaves before waiting for it: a failed REQUIRE
// never leaves a run training in the background.
class Child {
 public:
  explicit Child(pid_t pid) : pid_(pid) {}
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() {
    if (pid_ > 0 && !reaped_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }

  pid_t pid() const { return pid_; }
  bool running() {
    if (!reaped_ && ::waitpid(pid_, &status_, WNOHANG) == pid_) reaped_ = true;
    return !reaped_;
  }
  // The exit status (128 + the signal that ended it).
  int wait() {
    if (!reaped_) ::waitpid(pid_, &status_, 0);
    reaped_ = true;
    return WIFEXITED(status_) ? WEXITSTATUS(status_) : 128 + WTERMSIG(status_);
  }

 private:
  pid_t pid_;
  bool reaped_ = false;
  int status_ = 0;
};

// `onebyone ARGS` started in the background, its output going to the file `log`.
inline pid_t start_tool(const std::string& args, const std::string& log) {
  const pid_t child = fork();
  if (child == 0) {
    execl("/bin/sh", "sh", "-c", fmt::format("exec {} {} >'{}' 2>&1", ONEBYONE_TOOL, args, log).c_str(),
          static_cast<char*>(nullptr));
    _exit(127);
  }
  return child;
}

// The width and height of a PNG file the tool wrote.
inline std::pair<uint32_t, uint32_t> png_size(const std::string& path) {
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  REQUIRE(png_image_begin_read_from_file(&image, path.c_str()));
  png_image_free(&image);
  return {image.width, image.height};
}

// A new, empty folder under the system's temporary folder.
inline std::string scratch_dir(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() / ("onebyone_" + name);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

}  // namespace obo::test
