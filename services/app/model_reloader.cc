#include "services/app/model_reloader.h"

#include <memory>
#include <system_error>
#include <utility>

#include "services/common/log.h"
#include "services/model/model_file.h"

namespace crm {
namespace {

constexpr std::string_view kComponent = "crm-scored";

}  // namespace

std::optional<FileStamp> StampOf(const std::string& path) {
  std::error_code error;
  FileStamp stamp;
  stamp.modified = std::filesystem::last_write_time(path, error);
  if (error) return std::nullopt;
  stamp.size = std::filesystem::file_size(path, error);
  if (error) return std::nullopt;
  return stamp;
}

ModelReloader::ModelReloader(std::string path, std::optional<FileStamp> loaded,
                             Board<Scorer>* scorers, PrometheusMetrics* metrics)
    : path_(std::move(path)), stamp_(loaded), scorers_(scorers), metrics_(metrics) {}

void ModelReloader::Reload() {
  if (path_.empty()) {
    CRM_LOG(kInfo, kComponent) << "SIGHUP: no --model file to reload";
    return;
  }
  CRM_LOG(kInfo, kComponent) << "SIGHUP: reloading " << path_;
  stamp_ = StampOf(path_);
  Load();
}

void ModelReloader::ReloadIfChanged() {
  if (path_.empty()) return;
  std::optional<FileStamp> stamp = StampOf(path_);
  if (!stamp || stamp == stamp_) return;
  stamp_ = stamp;
  CRM_LOG(kInfo, kComponent) << path_ << " changed: reloading";
  Load();
}

void ModelReloader::Load() {
  absl::StatusOr<Model> model = LoadModelFile(path_);
  const std::string current = scorers_->Current()->model().version;
  if (!model.ok()) {
    metrics_->ModelRejected();
    CRM_LOG(kError, kComponent) << "model rejected, keeping version " << current << ": "
                                << model.status().message();
    return;
  }
  CRM_LOG(kInfo, kComponent) << "model version " << model->version << " loaded from " << path_
                             << " (was " << current << ")";
  metrics_->ModelLoaded(model->version);
  scorers_->Publish(std::make_shared<const Scorer>(std::move(*model)));
}

}  // namespace crm
