#include "services/grpc/alert_hub.h"

namespace crm {

AlertHub::Subscription::~Subscription() {
  std::lock_guard lock(hub_->mutex_);
  hub_->subscribers_.erase(this);
}

std::optional<AlertEvent> AlertHub::Subscription::Next(std::chrono::milliseconds timeout) {
  std::unique_lock lock(hub_->mutex_);
  hub_->changed_.wait_for(lock, timeout, [&] { return !queue_.empty() || hub_->closed_; });
  if (queue_.empty() || hub_->closed_) return std::nullopt;
  AlertEvent alert = std::move(queue_.front());
  queue_.pop_front();
  return alert;
}

bool AlertHub::Subscription::closed() const {
  std::lock_guard lock(hub_->mutex_);
  return hub_->closed_;
}

std::uint64_t AlertHub::Subscription::dropped() const {
  std::lock_guard lock(hub_->mutex_);
  return dropped_;
}

std::unique_ptr<AlertHub::Subscription> AlertHub::Subscribe(std::size_t capacity) {
  std::unique_ptr<Subscription> subscription(new Subscription(this, capacity));
  std::lock_guard lock(mutex_);
  subscribers_.insert(subscription.get());
  return subscription;
}

void AlertHub::Publish(const AlertEvent& alert) {
  {
    std::lock_guard lock(mutex_);
    for (Subscription* subscriber : subscribers_) {
      if (subscriber->queue_.size() >= subscriber->capacity_) {
        subscriber->queue_.pop_front();
        ++subscriber->dropped_;
      }
      subscriber->queue_.push_back(alert);
    }
  }
  changed_.notify_all();
}

void AlertHub::Close() {
  {
    std::lock_guard lock(mutex_);
    closed_ = true;
  }
  changed_.notify_all();
}

}  // namespace crm
