#include "services/grpc/alert_hub.h"

#include "services/codec/alert_codec.h"

namespace crm {

AlertHub::Subscription::~Subscription() {
  absl::MutexLock lock(&hub_->mutex_);
  hub_->subscribers_.erase(this);
}

std::shared_ptr<const WatchedAlert> AlertHub::Subscription::Take() {
  absl::MutexLock lock(&mutex_);
  if (queue_.empty()) return nullptr;
  std::shared_ptr<const WatchedAlert> alert = std::move(queue_.front());
  queue_.pop_front();
  queued_bytes_ -= alert->bytes;
  return alert;
}

bool AlertHub::Subscription::closed() const { return hub_->closed_.load(); }

std::uint64_t AlertHub::Subscription::dropped() const {
  absl::MutexLock lock(&mutex_);
  return dropped_;
}

std::unique_ptr<AlertHub::Subscription> AlertHub::Subscribe(Filter filter,
                                                            std::function<void()> ready) {
  std::unique_ptr<Subscription> subscription(
      new Subscription(this, std::move(filter), std::move(ready)));
  absl::MutexLock lock(&mutex_);
  if (subscribers_.size() >= options_.max_subscribers) return nullptr;
  subscribers_.insert(subscription.get());
  return subscription;
}

void AlertHub::Publish(const AlertEvent& alert) {
  auto shared = std::make_shared<WatchedAlert>();
  shared->event = alert;
  ToProto(alert, &shared->message);
  shared->bytes = shared->message.ByteSizeLong();
  absl::MutexLock lock(&mutex_);
  if (closed_.load()) return;
  for (Subscription* subscriber : subscribers_) {
    if (subscriber->filter_ && !subscriber->filter_(alert)) continue;
    {
      absl::MutexLock queue_lock(&subscriber->mutex_);
      while (!subscriber->queue_.empty() &&
             subscriber->queued_bytes_ + shared->bytes > options_.max_queued_bytes) {
        subscriber->queued_bytes_ -= subscriber->queue_.front()->bytes;
        subscriber->queue_.pop_front();
        ++subscriber->dropped_;
        dropped_.fetch_add(1);
      }
      subscriber->queue_.push_back(shared);
      subscriber->queued_bytes_ += shared->bytes;
    }
    if (subscriber->ready_) subscriber->ready_();
  }
}

void AlertHub::Close() {
  absl::MutexLock lock(&mutex_);
  if (closed_.exchange(true)) return;
  for (Subscription* subscriber : subscribers_) {
    if (subscriber->ready_) subscriber->ready_();
  }
}

std::size_t AlertHub::subscribers() const {
  absl::MutexLock lock(&mutex_);
  return subscribers_.size();
}

}  // namespace crm
