#pragma once

#include <signal.h>
#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace crm {

// A crm-scored (or other tool) process started by a test or the benchmark, its stdout and
// stderr going to a log file. Killed with SIGKILL if its owner forgets it.
class ChildProcess {
 public:
  ChildProcess(std::string binary, std::vector<std::string> args, std::filesystem::path log);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // Waits until the log has a line containing `marker`; returns the text after
  // it up to the end of that line, or nullopt when the deadline passes or the
  // process exits first.
  std::optional<std::string> WaitForLog(const std::string& marker,
                                        std::chrono::milliseconds deadline);

  // Sends `signal` and waits for the exit; returns the exit code (128 + signal
  // number when killed by a signal), or -1 when it did not exit within `deadline`.
  int Stop(int signal, std::chrono::milliseconds deadline = std::chrono::seconds(30));

  // Waits for the process to exit by itself; the exit code, or -1 on timeout.
  int Wait(std::chrono::milliseconds deadline);

  std::string Log() const;
  pid_t pid() const { return pid_; }

 private:
  std::optional<int> Reap(bool block);
  pid_t pid_ = -1;
  std::filesystem::path log_;
  std::optional<int> exit_code_;
};

// A fresh temporary directory, removed by the destructor.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace crm
