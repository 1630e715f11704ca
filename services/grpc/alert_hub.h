#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <set>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "core/alerts.h"
#include "crm/v1/scoring.pb.h"

namespace crm {

// One alert as the hub hands it out: encoded once, shared by every
// subscriber's queue (never copied per subscriber).
struct WatchedAlert {
  AlertEvent event;
  v1::ChurnAlert message;
  std::size_t bytes = 0;  // the encoded message's size: what a queue counts
};

struct AlertHubOptions {
  // Subscriptions at once; one more is refused (WatchAlerts: RESOURCE_EXHAUSTED).
  std::size_t max_subscribers = 100;
  // The most a subscriber's queue holds, in encoded bytes: a subscriber that
  // does not keep up loses its oldest alerts, counted, and never slows the
  // hub. The newest alert is always queued.
  std::size_t max_queued_bytes = 4 << 20;
};

// Fans the alerts delivered to crm.alerts out to live subscribers
// (WatchAlerts streams). Publish never waits for a subscriber: it encodes
// the alert once, appends a shared pointer to each interested subscriber's
// bounded queue and tells it. Thread-safe.
class AlertHub {
 public:
  // Whether a subscriber wants an alert (its filters).
  using Filter = std::function<bool(const AlertEvent&)>;

  class Subscription {
   public:
    // Unsubscribes; `ready` is never called once this returns.
    ~Subscription();
    // The oldest alert queued and not taken yet (null: none).
    std::shared_ptr<const WatchedAlert> Take();
    // Whether the hub is closed (shutdown): nothing more will come. Lock-free,
    // so `ready` may call it.
    bool closed() const;
    // Alerts this subscriber lost because its queue was full.
    std::uint64_t dropped() const;

   private:
    friend class AlertHub;
    Subscription(AlertHub* hub, Filter filter, std::function<void()> ready)
        : hub_(hub), filter_(std::move(filter)), ready_(std::move(ready)) {}
    AlertHub* const hub_;
    const Filter filter_;
    const std::function<void()> ready_;
    mutable absl::Mutex mutex_;
    std::deque<std::shared_ptr<const WatchedAlert>> queue_ ABSL_GUARDED_BY(mutex_);
    std::size_t queued_bytes_ ABSL_GUARDED_BY(mutex_) = 0;
    std::uint64_t dropped_ ABSL_GUARDED_BY(mutex_) = 0;
  };

  explicit AlertHub(AlertHubOptions options = {}) : options_(options) {}
  ~AlertHub() { Close(); }

  // Subscribes to the alerts published from now on that `filter` (empty:
  // every one) accepts. `ready` is called, from the publishing thread and
  // with the hub's lock held, after an alert is queued and when the hub
  // closes: it must not block nor call the hub (Take is fine). Null when
  // max_subscribers are subscribed already.
  // REQUIRES: the subscription is destroyed before the hub.
  std::unique_ptr<Subscription> Subscribe(Filter filter, std::function<void()> ready);
  void Publish(const AlertEvent& alert);
  // Ends every subscription (at shutdown): each is told, and closed() is true.
  void Close();

  std::size_t subscribers() const;
  // Alerts lost by all subscribers whose queue was full, since the start.
  std::uint64_t dropped() const { return dropped_.load(); }

 private:
  const AlertHubOptions options_;
  mutable absl::Mutex mutex_;
  std::set<Subscription*> subscribers_ ABSL_GUARDED_BY(mutex_);
  std::atomic<bool> closed_{false};  // set under mutex_, read without it
  std::atomic<std::uint64_t> dropped_{0};
};

}  // namespace crm
