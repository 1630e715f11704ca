#pragma once

#include <cstdint>
#include <queue>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "core/time.h"
#include "core/touchpoint.h"

namespace crm::demo {

// The habits a demo customer follows; visible in the customer id.
enum class Persona : std::uint8_t { kLoyal, kDeclining, kComplaining, kNew, kOccasional };
inline constexpr int kPersonaCount = 5;
std::string_view PersonaName(Persona persona);  // "loyal", …

struct PopulationOptions {
  int customers = 2000;
  std::uint64_t seed = 1;
  Timestamp start{};             // simulated time of the first events
  double duplicate_rate = 0.01;  // share of events re-sent with the same event id
};

// A seeded, reproducible multichannel population: yields touchpoints in
// non-decreasing simulated time. Seven in ten customers opt in to e-mail at
// sign-up (their first touchpoints). Loyal customers buy every two to three weeks
// and visit on web and mobile; declining ones buy regularly until their own
// decline day, then fall silent but for a few contacts and returns;
// complaining ones call and write with complaints, answer surveys badly and
// sometimes cancel; new ones appear during the run, browse, then buy;
// occasional ones buy every couple of months. Not thread-safe.
class Population {
 public:
  explicit Population(PopulationOptions options);

  // The next touchpoint (a duplicate repeats an earlier one's event id):
  // the population's own, or one injected, whichever is due first.
  Touchpoint Next();

  // Makes `touchpoint` (another actor's: a campaign's contact, a customer's
  // answer to it) one of the population's, due at its time (not before the
  // last one Next returned).
  void Inject(Touchpoint touchpoint);

  // The id of the `index`-th customer (0-based) of `persona`, e.g. "loyal-000003".
  std::string CustomerOf(Persona persona, int index) const;
  Persona PersonaOf(int customer) const;
  int customers() const { return static_cast<int>(customers_.size()); }

 private:
  struct Customer {
    std::string id;
    Persona persona;
    Timestamp decline_at{};  // declining: when habits fade
    int purchases = 0;
    bool profiled = false;       // one PROFILE touchpoint first
    bool asked_consent = false;  // then, for most, an e-mail opt-in
    int wish = -1;               // the product they are after: asked about, then bought
  };
  struct Due {
    Timestamp at;
    int customer;
    bool operator>(const Due& other) const { return at > other.at; }
  };

  Touchpoint Generate(Customer& customer, Timestamp at);
  double DaysToNext(const Customer& customer, Timestamp at);
  Channel PickChannel(std::initializer_list<std::pair<Channel, int>> weights);
  std::string PickProduct();
  // The customer's wish most of the time (drawn anew when absent), else any.
  std::string PickWish(Customer& customer);

  PopulationOptions options_;
  std::mt19937_64 rng_;
  std::vector<Customer> customers_;
  std::priority_queue<Due, std::vector<Due>, std::greater<>> due_;
  struct Later {
    bool operator()(const Touchpoint& a, const Touchpoint& b) const {
      return a.occurred_at > b.occurred_at;
    }
  };
  std::priority_queue<Touchpoint, std::vector<Touchpoint>, Later> injected_;
  std::uint64_t serial_ = 0;
  Touchpoint last_;
  bool has_last_ = false;
};

}  // namespace crm::demo
