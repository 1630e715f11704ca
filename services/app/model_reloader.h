#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "core/board.h"
#include "core/model.h"
#include "core/scorer.h"
#include "services/metrics/prometheus_metrics.h"

namespace crm {

// What identifies a version of the model file on disk, to notice it changed.
struct FileStamp {
  std::filesystem::file_time_type modified{};
  std::uintmax_t size = 0;
  bool operator==(const FileStamp&) const = default;
};
// The file's stamp now; nullopt when it cannot be read.
std::optional<FileStamp> StampOf(const std::string& path);

// Puts a new version of the --model file in use, on SIGHUP or when the file
// changed on disk. A file that does not load or validate is logged and
// counted (crm_model_rejected_total); the model in use stays. Used from one
// thread (the main thread).
class ModelReloader {
 public:
  // `path`: the --model file (empty: the built-in model, nothing to reload),
  // as loaded at start with stamp `loaded`. The pointers must outlive the
  // reloader.
  ModelReloader(std::string path, std::optional<FileStamp> loaded, Board<Scorer>* scorers,
                PrometheusMetrics* metrics);

  // SIGHUP: loads the file again, whatever its stamp.
  void Reload();
  // Loads the file again if its stamp changed since it was last loaded.
  void ReloadIfChanged();

 private:
  void Load();

  const std::string path_;
  std::optional<FileStamp> stamp_;
  Board<Scorer>* const scorers_;
  PrometheusMetrics* const metrics_;
};

}  // namespace crm
