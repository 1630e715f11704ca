#include "services/grpc/alert_watch.h"

#include <atomic>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "services/common/defaults.h"

namespace crm {
namespace {

class AlertWatch final : public grpc::ServerWriteReactor<v1::ChurnAlert> {
 public:
  AlertWatch(grpc::CallbackServerContext* context, AlertHub* hub, AlertHub::Filter filter) {
    subscription_ = hub->Subscribe(std::move(filter), [this] { Pump(); });
    if (subscription_ == nullptr) {
      End({grpc::StatusCode::RESOURCE_EXHAUSTED,
           "too many WatchAlerts streams at once (--max-watchers); retry later"});
      return;
    }
    context->AddInitialMetadata(std::string(kWatchOpenKey), "1");
    StartSendInitialMetadata();
    // Alerts queued while subscribing were not written: Pump waited for this.
    started_.store(true);
    Pump();
  }

  void OnWriteDone(bool ok) override {
    {
      absl::MutexLock lock(&mutex_);
      writing_ = nullptr;
    }
    if (!ok) {  // the caller left, or the call was cancelled
      End(grpc::Status::OK);
      return;
    }
    Pump();
  }

  void OnCancel() override { End({grpc::StatusCode::CANCELLED, "cancelled"}); }

  void OnDone() override {
    subscription_.reset();  // no more Pump from the hub after this
    delete this;
  }

 private:
  // Writes the next alert queued, unless a write is in flight (its end
  // calls Pump again) or the stream ended. Any thread; never blocks. gRPC
  // is called outside the lock: it may run a reaction, even OnDone, inline.
  void Pump() {
    if (!started_.load()) return;
    const WatchedAlert* next = nullptr;
    {
      absl::MutexLock lock(&mutex_);
      if (writing_ != nullptr || finished_) return;
      writing_ = subscription_->Take();
      if (writing_ == nullptr && !subscription_->closed()) return;
      next = writing_.get();
    }
    if (next == nullptr) {
      End({grpc::StatusCode::UNAVAILABLE, "shutting down"});
      return;
    }
    StartWrite(&next->message);
  }

  // Finishes the stream once, whoever asks first.
  void End(const grpc::Status& status) {
    {
      absl::MutexLock lock(&mutex_);
      if (finished_) return;
      finished_ = true;
    }
    Finish(status);
  }

  std::unique_ptr<AlertHub::Subscription> subscription_;
  std::atomic<bool> started_{false};
  absl::Mutex mutex_;
  std::shared_ptr<const WatchedAlert> writing_ ABSL_GUARDED_BY(mutex_);  // the write in flight
  bool finished_ ABSL_GUARDED_BY(mutex_) = false;
};

class RefusedWatch final : public grpc::ServerWriteReactor<v1::ChurnAlert> {
 public:
  explicit RefusedWatch(const grpc::Status& status) { Finish(status); }
  void OnDone() override { delete this; }
};

}  // namespace

grpc::ServerWriteReactor<v1::ChurnAlert>* StartAlertWatch(grpc::CallbackServerContext* context,
                                                          AlertHub* hub, AlertHub::Filter filter) {
  return new AlertWatch(context, hub, std::move(filter));
}

grpc::ServerWriteReactor<v1::ChurnAlert>* RefuseAlertWatch(const grpc::Status& status) {
  return new RefusedWatch(status);
}

}  // namespace crm
