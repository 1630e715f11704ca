#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <set>

#include "core/alerts.h"

namespace crm {

// Fans delivered alerts out to live subscribers (WatchAlerts streams). Each
// subscriber has a bounded queue: a subscriber too slow to keep up loses its
// oldest alerts (counted in dropped()), never slowing delivery. Thread-safe.
class AlertHub {
 public:
  class Subscription {
   public:
    ~Subscription();
    // The next alert, waiting up to `timeout`; nullopt on timeout or once the
    // hub is closed.
    std::optional<AlertEvent> Next(std::chrono::milliseconds timeout);
    bool closed() const;
    std::uint64_t dropped() const;

   private:
    friend class AlertHub;
    explicit Subscription(AlertHub* hub, std::size_t capacity) : hub_(hub), capacity_(capacity) {}
    AlertHub* hub_;
    std::size_t capacity_;
    std::deque<AlertEvent> queue_;  // guarded by hub_->mutex_
    std::uint64_t dropped_ = 0;     // guarded by hub_->mutex_
  };

  ~AlertHub() { Close(); }

  // REQUIRES: the subscription is destroyed before the hub.
  std::unique_ptr<Subscription> Subscribe(std::size_t capacity = 10'000);
  void Publish(const AlertEvent& alert);
  // Ends every subscription (at shutdown).
  void Close();

 private:
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::set<Subscription*> subscribers_;
  bool closed_ = false;
};

}  // namespace crm
