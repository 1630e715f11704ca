// Crash test: a fixed stream of touchpoints (duplicates and late events
// included) fed, a part at a time, through a standalone crm-devbroker to a
// crm-scored killed with SIGKILL at random moments (seeded) and restarted on
// the same data dir, over and over; then every customer's state and scores
// and every alert on crm.alerts compared with those of a clean single-pass
// run on another broker: zero differences allowed.
//
// CRM_CRASH_KILLS sets the number of kills (default 10; scripts/crash-soak.sh
// runs 100 and more), CRM_TEST_SEED the seed. Each restart waits for the
// killed member's session to expire (6 s, the mock broker's minimum) before
// it is given the partitions.
#include <google/protobuf/util/field_comparator.h>
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/message_differencer.h>
#include <google/protobuf/util/time_util.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "crm/v1/scoring.grpc.pb.h"
#include "services/codec/state_codec.h"
#include "services/kafka/embedded_broker.h"
#include "tests/integration/http_client.h"
#include "tests/integration/service_process.h"
#include "tests/integration/test_cluster.h"
#include "tests/integration/touchpoint_producer.h"
#include "tools/scrape.h"

namespace crm {
namespace {

using namespace std::chrono_literals;
using google::protobuf::util::MessageDifferencer;
using testing::ChildProcess;
using testing::TempDir;

constexpr std::int64_t kDaySeconds = 86'400;
constexpr std::int64_t kStart = 1'735'689'600;  // 2025-01-01T00:00:00Z
// Customers: 10 per kill (100 to 2,000, which 3 partitions of the mock
// broker hold), so that each run is given a few hundred touchpoints however
// many kills there are, and most kills land while a run is still applying them.
int Customers(int kills) { return 10 * std::clamp(kills, 10, 200); }
constexpr int kDays = 400;
constexpr int kPartitions = 3;

std::uint64_t Seed() {
  if (const char* seed = std::getenv("CRM_TEST_SEED")) return std::strtoull(seed, nullptr, 10);
  return std::random_device{}();
}

int Kills() {
  if (const char* kills = std::getenv("CRM_CRASH_KILLS")) return std::max(1, std::atoi(kills));
  return 10;
}

// The stream: each customer buys, visits, complains and states consents at
// their own rhythm; a third of them stop buying a third of the way in, so that
// silence raises alerts; about 4 % are sent twice (the same event id) and 4 %
// arrive late (up to 20 days behind their time). `unique` counts those to apply.
std::vector<v1::Touchpoint> MakeStream(std::mt19937_64& random, int customers,
                                       std::size_t* unique) {
  struct Timed {
    std::int64_t at;
    v1::Touchpoint touchpoint;
  };
  std::vector<Timed> events;
  std::uniform_real_distribution<double> unit(0, 1);
  int next_id = 0;
  for (int c = 0; c < customers; ++c) {
    const std::string customer = "crash-" + std::to_string(c);
    const double rhythm_days = 4 + 26 * unit(random);
    const int stops = c % 3 == 0 ? kDays / 3 + static_cast<int>(60 * unit(random)) : kDays;
    // Half of those who stop buy again two thirds of the way in: their
    // alerts clear.
    const int returns = c % 6 == 0 ? 2 * kDays / 3 : kDays;
    for (double day = rhythm_days * unit(random); day < kDays;
         day += rhythm_days * (0.5 + unit(random))) {
      v1::Touchpoint m;
      m.set_event_id("ev-" + std::to_string(next_id++));
      m.set_customer_id(customer);
      const std::int64_t at = kStart + static_cast<std::int64_t>(day * kDaySeconds);
      m.mutable_occurred_at()->set_seconds(at);
      const double kind = unit(random);
      m.set_channel(kind < 0.5 ? v1::WEB : kind < 0.7 ? v1::PHONE : v1::EMAIL);
      if ((day < stops || day >= returns) && kind < 0.55) {
        m.set_type(v1::PURCHASE);
        m.set_amount(5 + 200 * unit(random));
        m.set_product(kind < 0.3 ? "p1" : "p2");
      } else if (kind < 0.7) {
        m.set_type(v1::CONTACT);
      } else if (kind < 0.75) {  // an e-mail of a campaign: the alerts' follow-ups count it
        m.set_type(v1::CAMPAIGN_CONTACT);
        m.set_campaign_id("crash-campaign");
      } else if (kind < 0.8) {  // an offer campaign's report, contacted or held out
        m.set_type(v1::CAMPAIGN_CONTACT);
        m.set_campaign_id("crash-offer-" + std::to_string(c % 3));
        m.set_product("p2");
        m.set_held_out(unit(random) < 0.3);
      } else if (kind < 0.9) {
        m.set_type(v1::COMPLAINT);
      } else {
        m.set_type(v1::CONSENT);
        m.set_consent_granted(unit(random) < 0.7);
      }
      events.push_back({at, m});
    }
  }
  std::stable_sort(events.begin(), events.end(),
                   [](const Timed& a, const Timed& b) { return a.at < b.at; });
  std::vector<v1::Touchpoint> stream;
  *unique = 0;
  for (std::size_t i = 0; i < events.size(); ++i) {
    stream.push_back(events[i].touchpoint);
    ++*unique;
    if (unit(random) < 0.04) stream.push_back(events[i].touchpoint);  // a duplicate
  }
  // Late ones: moved later in the stream, their event time kept.
  for (std::size_t i = 0; i + 1 < stream.size(); ++i) {
    if (unit(random) < 0.04) {
      const std::size_t to =
          std::min(stream.size() - 1, i + static_cast<std::size_t>(unit(random) * 40));
      std::rotate(stream.begin() + static_cast<std::ptrdiff_t>(i),
                  stream.begin() + static_cast<std::ptrdiff_t>(i + 1),
                  stream.begin() + static_cast<std::ptrdiff_t>(to + 1));
    }
  }
  return stream;
}

// A standalone crm-devbroker, as a developer would run one.
// On an external cluster (CRM_TEST_BROKERS), topics of the test's own there.
struct DevBroker {
  std::unique_ptr<ChildProcess> process;
  std::unique_ptr<testing::TestKafka> external;
  std::string bootstrap;
};
DevBroker StartDevBroker(const std::filesystem::path& log, int partitions = kPartitions) {
  DevBroker broker;
  if (testing::OnExternalKafka()) {
    auto external = testing::TestKafka::Start(ContractTopics(partitions));
    EXPECT_TRUE(external.ok()) << external.status();
    if (external.ok()) broker.external = *std::move(external);
    if (broker.external) broker.bootstrap = broker.external->bootstrap();
    return broker;
  }
  broker.process = std::make_unique<ChildProcess>(
      CRM_DEVBROKER_BIN, std::vector<std::string>{"--partitions", std::to_string(partitions)}, log);
  const auto bootstrap = broker.process->WaitForLog("bootstrap=", 30s);
  EXPECT_TRUE(bootstrap) << broker.process->Log();
  if (bootstrap) broker.bootstrap = *bootstrap;
  return broker;
}

// With `ingest_threads` lanes (--ingest-threads), one by default.
std::vector<std::string> ServiceArgs(const std::string& brokers, const std::filesystem::path& data,
                                     int ingest_threads = 1) {
  return testing::WithTestKafka({"--ingest-threads",
                                 std::to_string(ingest_threads),
                                 "--brokers",
                                 brokers,
                                 "--data-dir",
                                 data.string(),
                                 "--grpc-listen",
                                 "127.0.0.1:0",
                                 "--metrics-listen",
                                 "127.0.0.1:0",
                                 "--http-listen",
                                 "127.0.0.1:0",
                                 "--group",
                                 "crash-test",
                                 "--clock",
                                 "event",
                                 "--max-batch",
                                 "10",
                                 "--sync-writes",
                                 "true",
                                 "--dedup-window",
                                 "1024",
                                 "--kafka",
                                 "session.timeout.ms=6000",
                                 "--kafka",
                                 "fetch.wait.max.ms=10",
                                 "--cluster-heartbeat-ms",
                                 "500"});
}

// The value of `metric` (summed over its labels) on the running `service`'s
// /metrics, learnt from the address it listens on; -1 when it cannot be read.
double Metric(ChildProcess& service, std::string_view metric) {
  const auto address = service.WaitForLog("metrics listening on http://", 30s);
  if (!address) return -1;
  const auto page = HttpGet("http://" + address->substr(0, address->find_first_of(" \n")));
  return page ? SumSamples(*page, metric) : -1;
}

// Changelog records `service` has read to restore partitions so far.
std::uint64_t RestoredRecords(ChildProcess& service) {
  return static_cast<std::uint64_t>(std::max(0.0, Metric(service, "crm_restore_records_total")));
}

// The touchpoints a data dir (of a killed service) has committed: the sum of
// its partitions' next offsets, read as they are on disk (read-only, so that
// the next run recovers the data dir itself: RocksDbStateStore's layout).
std::size_t CommittedIn(const std::filesystem::path& data) {
  rocksdb::DB* opened = nullptr;
  const rocksdb::Status status = rocksdb::DB::OpenForReadOnly({}, data.string(), &opened);
  EXPECT_TRUE(status.ok()) << status.ToString();
  if (!status.ok()) return 0;
  const std::unique_ptr<rocksdb::DB> db(opened);
  std::size_t committed = 0;
  for (int partition = 0; partition < kPartitions; ++partition) {
    std::string key = "o" + testing::TestTopic("crm.touchpoints") + '\0';
    for (int shift = 24; shift >= 0; shift -= 8) key += static_cast<char>(partition >> shift);
    std::string value;
    if (db->Get({}, key, &value).IsNotFound()) continue;
    const auto state = DecodePartition(value);
    EXPECT_TRUE(state.ok()) << state.status();
    if (state.ok() && state->next_offset)
      committed += static_cast<std::size_t>(*state->next_offset);
  }
  return committed;
}

// What a run leaves: each customer's state and scores, and the alerts.
struct Outcome {
  std::map<std::string, v1::CustomerState> states;
  std::map<std::string, v1::CustomerScores> scores;
  std::vector<v1::ChurnAlert> alerts;
  v1::AlertOutcomes outcomes;  // GetAlertOutcomes of every alert
  // As the run's metrics said before it stopped: changelog records read to
  // restore, and touchpoints read from the input.
  std::uint64_t restored_records = 0;
  std::size_t consumed = 0;
};

// Reads what the service behind `stub` holds once it has applied `unique`
// events, and the alerts on the topic once no more come for a while.
Outcome ReadOutcome(v1::ScoringService::Stub& stub, const std::string& brokers,
                    ChildProcess& service, int customers, std::size_t unique,
                    int partitions = kPartitions) {
  Outcome outcome;
  const auto read_all = [&] {
    std::size_t applied = 0;
    for (int c = 0; c < customers; ++c) {
      const std::string id = "crash-" + std::to_string(c);
      v1::GetCustomerStateRequest request;
      request.set_customer_id(id);
      v1::CustomerState state;
      grpc::ClientContext context;
      if (stub.GetCustomerState(&context, request, &state).ok()) {
        applied += state.events_applied();
        outcome.states[id] = state;
      }
    }
    return applied;
  };
  const auto until = std::chrono::steady_clock::now() + 120s;
  while (read_all() < unique && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(200ms);
  }
  EXPECT_EQ(read_all(), unique) << service.Log();
  for (const auto& [id, state] : outcome.states) {
    v1::GetCustomerScoresRequest request;
    request.set_customer_id(id);
    request.mutable_as_of()->set_seconds(kStart + kDays * kDaySeconds);
    grpc::ClientContext context;
    v1::CustomerScores& scores = outcome.scores[id];
    EXPECT_TRUE(stub.GetCustomerScores(&context, request, &scores).ok());
    scores.clear_freshness();  // which instance answered, and how far behind it was
  }
  {
    grpc::ClientContext context;
    EXPECT_TRUE(
        stub.GetAlertOutcomes(&context, v1::GetAlertOutcomesRequest(), &outcome.outcomes).ok());
    outcome.outcomes.clear_instances();
  }
  for (std::size_t seen = SIZE_MAX;;) {
    outcome.alerts.clear();
    for (const testing::TestRecord& record :
         testing::ReadTopic(brokers, "crm.alerts", partitions, 2s)) {
      v1::ChurnAlert& alert = outcome.alerts.emplace_back();
      EXPECT_TRUE(alert.ParseFromString(record.value));
    }
    if (outcome.alerts.size() == seen) break;
    seen = outcome.alerts.size();
  }
  return outcome;
}

// A gRPC stub on a service that logged its port.
std::unique_ptr<v1::ScoringService::Stub> StubOf(ChildProcess& service) {
  const auto port = service.WaitForLog("gRPC listening on 127.0.0.1:", 30s);
  EXPECT_TRUE(port) << service.Log();
  if (!port) return nullptr;
  return v1::ScoringService::NewStub(
      grpc::CreateChannel("127.0.0.1:" + *port, grpc::InsecureChannelCredentials()));
}

// A customer's scores as of the end of the stream, as `stub`'s instance answers.
grpc::Status ScoresOf(v1::ScoringService::Stub& stub, const std::string& id,
                      v1::CustomerScores* scores) {
  v1::GetCustomerScoresRequest request;
  request.set_customer_id(id);
  request.mutable_as_of()->set_seconds(kStart + kDays * kDaySeconds);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + 10s);
  return stub.GetCustomerScores(&context, request, scores);
}

// Runs crm-scored on `data` until every touchpoint is applied and the alerts
// stop coming, and reads what it left.
Outcome RunToTheEnd(const std::string& brokers, const std::filesystem::path& data,
                    const std::filesystem::path& log, int customers, std::size_t unique,
                    int ingest_threads = 1) {
  ChildProcess service(CRM_SCORED_BIN, ServiceArgs(brokers, data, ingest_threads), log);
  auto stub = StubOf(service);
  if (!stub) return {};
  Outcome outcome = ReadOutcome(*stub, brokers, service, customers, unique);
  outcome.restored_records = RestoredRecords(service);
  outcome.consumed =
      static_cast<std::size_t>(std::max(0.0, Metric(service, "crm_touchpoints_consumed_total")));
  EXPECT_EQ(service.Stop(SIGTERM), 0) << service.Log();
  return outcome;
}

// What one crm-scored leaves of `stream`, alone on a broker of its own from
// start to end, never stopped.
Outcome CleanSinglePass(const std::filesystem::path& dir, const std::vector<v1::Touchpoint>& stream,
                        int customers, std::size_t unique, int partitions = kPartitions) {
  DevBroker broker = StartDevBroker(dir / "clean-broker.log", partitions);
  EXPECT_FALSE(broker.bootstrap.empty());
  if (broker.bootstrap.empty()) return {};
  testing::ProduceTouchpoints(broker.bootstrap, stream);
  ChildProcess service(CRM_SCORED_BIN, ServiceArgs(broker.bootstrap, dir / "clean"),
                       dir / "clean.log");
  auto stub = StubOf(service);
  if (!stub) return {};
  Outcome outcome = ReadOutcome(*stub, broker.bootstrap, service, customers, unique, partitions);
  EXPECT_EQ(service.Stop(SIGTERM), 0) << service.Log();
  return outcome;
}

// Whether `got`'s recent touchpoints are `want`'s, in its order, some perhaps
// missing, none added nor repeated. They are not in the changelog: where
// commits of a partition came from it (an instance taking the partition
// over, or one restarted after a kill that left the changelog ahead of its
// data dir), the touchpoints applied before them are missing.
bool SameRecentTouchpoints(const v1::CustomerState& want, const v1::CustomerState& got) {
  int next = 0;
  for (const v1::Touchpoint& touchpoint : got.recent_touchpoints()) {
    while (next < want.recent_touchpoints_size() &&
           !MessageDifferencer::Equals(want.recent_touchpoints(next), touchpoint)) {
      ++next;
    }
    if (next == want.recent_touchpoints_size()) return false;
    ++next;
  }
  return true;
}

// Whether two runs left the same state (the recent touchpoints as
// SameRecentTouchpoints says; the alerts' follow-ups but for their segment,
// as Differences says of the alerts).
bool SameState(const v1::CustomerState& want, const v1::CustomerState& got) {
  v1::CustomerState want_rest = want, got_rest = got;
  want_rest.clear_recent_touchpoints();
  got_rest.clear_recent_touchpoints();
  for (v1::CustomerState* state : {&want_rest, &got_rest}) {
    for (v1::AlertFollowUp& follow_up : *state->mutable_alert_follow_ups()) {
      follow_up.clear_segment();
    }
  }
  return MessageDifferencer::Equals(want_rest, got_rest) && SameRecentTouchpoints(want, got);
}

// The differences between two runs' outcomes, each reported: states, scores,
// and the alerts (none twice on the topic; the segment left out: it ranks
// against the population of the moment, which the interleaving of partitions
// moves).
int Differences(const Outcome& want, const Outcome& got) {
  int differences = 0;
  EXPECT_EQ(got.states.size(), want.states.size());
  for (const auto& [id, state] : want.states) {
    auto it = got.states.find(id);
    if (it == got.states.end() || !SameState(state, it->second)) {
      ++differences;
      ADD_FAILURE() << id << " state differs:\nclean " << state.ShortDebugString() << "\ngot "
                    << (it == got.states.end() ? "(none)" : it->second.ShortDebugString());
      continue;
    }
    if (!MessageDifferencer::Equals(want.scores.at(id), got.scores.at(id))) {
      ++differences;
      ADD_FAILURE() << id << " scores differ:\nclean " << want.scores.at(id).ShortDebugString()
                    << "\ngot " << got.scores.at(id).ShortDebugString();
    }
  }
  // The outcomes sum the follow-ups of every alert: the same, exactly once.
  // Their sums of money are floating point, added in the order the
  // instances' answers are merged: equal to a billionth.
  google::protobuf::util::DefaultFieldComparator within_a_billionth;
  within_a_billionth.set_float_comparison(
      google::protobuf::util::DefaultFieldComparator::APPROXIMATE);
  within_a_billionth.SetDefaultFractionAndMargin(1e-9, 1e-9);
  MessageDifferencer same_outcomes;
  same_outcomes.set_field_comparator(&within_a_billionth);
  if (!same_outcomes.Compare(want.outcomes, got.outcomes)) {
    ++differences;
    ADD_FAILURE() << "outcomes differ:\nclean " << want.outcomes.ShortDebugString() << "\ngot "
                  << got.outcomes.ShortDebugString();
  }
  // By alert id and transition: a raise and its clear share the id.
  const auto keyed = [&](const std::vector<v1::ChurnAlert>& alerts) {
    std::map<std::string, v1::ChurnAlert> by_id;
    for (v1::ChurnAlert alert : alerts) {
      alert.clear_segment();
      const std::string key = alert.alert_id() + " " + v1::AlertTransition_Name(alert.transition());
      EXPECT_TRUE(by_id.emplace(key, alert).second) << "alert " << key << " on the topic twice";
    }
    return by_id;
  };
  const auto want_alerts = keyed(want.alerts);
  const auto got_alerts = keyed(got.alerts);
  for (const auto& [id, alert] : want_alerts) {
    auto it = got_alerts.find(id);
    if (it == got_alerts.end() || !MessageDifferencer::Equals(alert, it->second)) {
      ++differences;
      ADD_FAILURE() << "alert " << id << " differs or is missing:\nclean "
                    << alert.ShortDebugString() << "\ngot "
                    << (it == got_alerts.end() ? "(missing)" : it->second.ShortDebugString());
    }
  }
  for (const auto& [id, alert] : got_alerts) {
    if (!want_alerts.contains(id)) {
      ++differences;
      ADD_FAILURE() << "alert " << id << " only in the second run: " << alert.ShortDebugString();
    }
  }
  return differences;
}

// Kills crm-scored at random moments; each next run is the same instance
// (its data dir) or, with `replaced`, a new one on an empty data dir, which
// is given the partitions with nothing but the changelog to restore them.
// The runs killed, and the last, ingest with `ingest_threads` lanes; the
// clean pass with one.
void KillAndCompare(bool replaced, int ingest_threads = 1) {
  const std::uint64_t seed = Seed();
  const int kills = Kills();
  std::cout << "seed=" << seed << " (set CRM_TEST_SEED to replay) kills=" << kills << "\n";
  std::mt19937_64 random(seed);
  TempDir dir;
  std::size_t unique = 0;
  const int customers = Customers(kills);
  const std::vector<v1::Touchpoint> stream = MakeStream(random, customers, &unique);

  // The clean single pass.
  const Outcome want = CleanSinglePass(dir.path(), stream, customers, unique);
  ASSERT_EQ(want.states.size(), static_cast<std::size_t>(customers));
  ASSERT_FALSE(want.alerts.empty()) << "the stream should raise alerts";
  ASSERT_TRUE(std::any_of(want.alerts.begin(), want.alerts.end(), [](const v1::ChurnAlert& alert) {
    return alert.transition() == v1::ALERT_TRANSITION_CLEARED;
  })) << "the stream should clear alerts";
  std::size_t followed = 0, offered = 0;
  for (const auto& [id, state] : want.states) {
    for (const v1::AlertFollowUp& follow_up : state.alert_follow_ups()) {
      ++(follow_up.campaign_id().empty() ? followed : offered);
    }
  }
  ASSERT_GT(followed, 0u) << "the stream should follow up alerts (SameState compares them)";
  ASSERT_GT(offered, 0u) << "the stream should follow up offer campaigns";
  ASSERT_EQ(want.outcomes.treated().alerts() + want.outcomes.control().alerts(), followed)
      << "the outcomes should sum every alert's follow-up kept";

  // The same stream, a part before each run, killed at a random moment.
  DevBroker broker = StartDevBroker(dir.path() / "broker.log");
  ASSERT_FALSE(broker.bootstrap.empty());
  const auto data_of = [&](int run) {
    return replaced ? dir.path() / ("instance-" + std::to_string(run)) : dir.path() / "crashed";
  };
  std::size_t produced = 0;
  std::uint64_t restored_records = 0;  // changelog records the runs read, as their metrics say
  std::uniform_int_distribution<int> delay_ms(0, 80);
  // Kills that landed before the run had committed all it was given, as its
  // data dir says once it is dead.
  int mid_stream = 0;
  for (int kill = 0; kill < kills; ++kill) {
    const std::size_t part = std::min(stream.size(), produced + stream.size() / (kills + 1) + 1);
    testing::ProduceTouchpoints(
        broker.bootstrap,
        std::vector<v1::Touchpoint>(stream.begin() + static_cast<std::ptrdiff_t>(produced),
                                    stream.begin() + static_cast<std::ptrdiff_t>(part)));
    produced = part;
    ChildProcess service(CRM_SCORED_BIN,
                         ServiceArgs(broker.bootstrap, data_of(kill), ingest_threads),
                         dir.path() / ("run" + std::to_string(kill) + ".log"));
    // Killed once it is at work: reading touchpoints (its part at least is new).
    for (const auto until = std::chrono::steady_clock::now() + 60s;
         Metric(service, "crm_touchpoints_consumed_total") <= 0 &&
         std::chrono::steady_clock::now() < until;) {
      std::this_thread::sleep_for(5ms);
    }
    ASSERT_GT(Metric(service, "crm_touchpoints_consumed_total"), 0) << service.Log();
    if (replaced && kill == 0) {
      // Something committed before the first kill, for the next instances to
      // restore (later kills may come before any commit of theirs).
      auto stub = StubOf(service);
      ASSERT_NE(stub, nullptr);
      const auto until = std::chrono::steady_clock::now() + 60s;
      for (bool committed = false; !committed && std::chrono::steady_clock::now() < until;) {
        v1::GetCustomerStateRequest request;
        request.set_customer_id(stream.front().customer_id());
        v1::CustomerState state;
        grpc::ClientContext context;
        committed = stub->GetCustomerState(&context, request, &state).ok();
        if (!committed) std::this_thread::sleep_for(20ms);
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms(random)));
    restored_records += RestoredRecords(service);
    ASSERT_EQ(service.Stop(SIGKILL), 128 + SIGKILL);
    mid_stream += CommittedIn(data_of(kill)) < produced;
  }
  testing::ProduceTouchpoints(
      broker.bootstrap, std::vector<v1::Touchpoint>(
                            stream.begin() + static_cast<std::ptrdiff_t>(produced), stream.end()));
  const Outcome got = RunToTheEnd(broker.bootstrap, data_of(kills), dir.path() / "final.log",
                                  customers, unique, ingest_threads);
  restored_records += got.restored_records;
  // A new instance has nothing but the changelog: the states come from it,
  // and the touchpoints are read from the offsets restored with them, not
  // again from the start.
  if (replaced) {
    EXPECT_GT(got.restored_records, 0u);
    EXPECT_LT(got.consumed, stream.size());
  }
  // The crashes this test is about: some runs died with work in hand (each
  // given a new part, killed 0-80 ms after it began reading it).
  EXPECT_GT(mid_stream, 0) << "no kill landed before its run had committed all it was given";

  const int differences = Differences(want, got);
  const std::size_t alerts = want.alerts.size();
  std::cout << "crash test" << (replaced ? " (a new instance each time)" : "")
            << (ingest_threads > 1 ? ", " + std::to_string(ingest_threads) + " lanes" : "") << ": "
            << kills << " kills (" << mid_stream
            << " before the run had committed all it was given), " << stream.size()
            << " touchpoints (" << unique << " unique), " << want.states.size() << " customers, "
            << alerts << " alerts, " << restored_records << " changelog records read to restore, "
            << differences << " differences\n";
  EXPECT_EQ(differences, 0);
}

TEST(CrashTest, RandomKillsAndRestartsLeaveWhatACleanRunLeaves) { KillAndCompare(false); }

// A partition's state follows it to another instance through the changelog:
// each run after a kill is a new instance on an empty data dir.
TEST(CrashTest, KilledInstancesReplacedByNewOnesOnEmptyDataDirsLeaveWhatACleanRunLeaves) {
  KillAndCompare(true);
}

// Partition-parallel ingest: two lanes committing at once, killed at random
// moments, leave what one lane's clean pass leaves; and so do new instances
// with two lanes, restoring each lane's partitions from the changelog.
TEST(CrashTest, RandomKillsOfTwoLanesLeaveWhatACleanRunOfOneLeaves) { KillAndCompare(false, 2); }
TEST(CrashTest, NewInstancesOfTwoLanesLeaveWhatACleanRunOfOneLeaves) { KillAndCompare(true, 2); }

// Scale-out, hand-over: a second instance joins the group and is given
// partitions, whose states it restores from the changelog; each instance
// answers every customer alike (the other's forwarded to it); then the
// second is killed mid-stream, and the first, given its partitions back,
// restores what the second did: every state, score and alert equals a clean
// single run's.
TEST(CrashTest, AnInstanceJoinsThenIsKilledAndTheStatesOfItsPartitionsFollowThem) {
  const std::uint64_t seed = Seed();
  std::cout << "seed=" << seed << " (set CRM_TEST_SEED to replay)\n";
  std::mt19937_64 random(seed);
  TempDir dir;
  std::size_t unique = 0;
  const int customers = Customers(10);
  const std::vector<v1::Touchpoint> stream = MakeStream(random, customers, &unique);
  const std::size_t half = stream.size() / 2;
  std::set<std::pair<std::string, std::string>> first_half;
  for (std::size_t i = 0; i < half; ++i) {
    first_half.emplace(stream[i].customer_id(), stream[i].event_id());
  }

  const Outcome want = CleanSinglePass(dir.path(), stream, customers, unique);
  ASSERT_EQ(want.states.size(), static_cast<std::size_t>(customers));

  DevBroker broker = StartDevBroker(dir.path() / "broker.log");
  ASSERT_FALSE(broker.bootstrap.empty());
  testing::ProduceTouchpoints(broker.bootstrap,
                              std::vector<v1::Touchpoint>(stream.begin(), stream.begin() + half));
  ChildProcess first(CRM_SCORED_BIN, ServiceArgs(broker.bootstrap, dir.path() / "first"),
                     dir.path() / "first.log");
  auto first_stub = StubOf(first);
  ASSERT_NE(first_stub, nullptr);
  // Each customer as the instances answer: events applied by whichever
  // answers, and how many answered.
  const auto ask = [&](v1::ScoringService::Stub& stub, const std::string& id,
                       std::uint64_t* applied) {
    v1::GetCustomerStateRequest request;
    request.set_customer_id(id);
    v1::CustomerState state;
    grpc::ClientContext context;
    const grpc::Status status = stub.GetCustomerState(&context, request, &state);
    if (status.ok()) *applied = state.events_applied();
    return status;
  };
  const auto applied_by = [&](v1::ScoringService::Stub& stub) {
    std::uint64_t total = 0;
    for (int c = 0; c < customers; ++c) {
      std::uint64_t applied = 0;
      if (ask(stub, "crash-" + std::to_string(c), &applied).ok()) total += applied;
    }
    return total;
  };
  auto until = std::chrono::steady_clock::now() + 60s;
  while (applied_by(*first_stub) < first_half.size() && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(200ms);
  }
  ASSERT_EQ(applied_by(*first_stub), first_half.size()) << first.Log();
  // Its alerts delivered before the second joins. (An alert still to deliver
  // when its partition changes hands may reach the topic twice, from its old
  // owner and from its new one: docs/architecture.md, "The changelog".)
  for (std::size_t seen = SIZE_MAX, now = 0;; seen = now) {
    now = testing::ReadTopic(broker.bootstrap, "crm.alerts", kPartitions, 2s).size();
    if (now == seen) break;
  }

  ChildProcess second(CRM_SCORED_BIN, ServiceArgs(broker.bootstrap, dir.path() / "second"),
                      dir.path() / "second.log");
  auto second_stub = StubOf(second);
  ASSERT_NE(second_stub, nullptr);
  // Once the group has settled: each customer answered by both instances,
  // alike: by the owner of their partition, and by the other, which forwards
  // to it; together, everything applied so far.
  const auto settled = [&] {
    std::uint64_t total = 0;
    std::set<std::string> owners;
    for (int c = 0; c < customers; ++c) {
      const std::string id = "crash-" + std::to_string(c);
      v1::CustomerScores a, b;
      if (!ScoresOf(*first_stub, id, &a).ok() || !ScoresOf(*second_stub, id, &b).ok()) {
        return false;
      }
      if (a.freshness().forwarded() == b.freshness().forwarded() ||
          a.freshness().served_by() != b.freshness().served_by()) {
        return false;
      }
      owners.insert(a.freshness().served_by());
      a.clear_freshness();
      b.clear_freshness();
      if (!MessageDifferencer::Equals(a, b)) return false;
      total += a.events_applied();
    }
    return total == first_half.size() && owners.size() == 2;
  };
  until = std::chrono::steady_clock::now() + 60s;
  while (!settled() && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(200ms);
  }
  ASSERT_TRUE(settled()) << first.Log() << second.Log();
  // Over HTTP too: each customer from either instance, the other's by the
  // same forwarding, with the same answer as gRPC's.
  for (ChildProcess* instance : {&first, &second}) {
    const auto port = instance->WaitForLog("HTTP listening on 127.0.0.1:", 10s);
    ASSERT_TRUE(port) << instance->Log();
    const std::string http = "127.0.0.1:" + port->substr(0, port->find_first_not_of("0123456789"));
    int forwarded = 0;
    for (int c = 0; c < customers; ++c) {
      const std::string id = "crash-" + std::to_string(c);
      const testing::HttpAnswer answer =
          testing::HttpCall(http, "GET",
                            "/v1/customers/" + id + "/scores?as_of=" +
                                google::protobuf::util::TimeUtil::ToString(
                                    google::protobuf::util::TimeUtil::SecondsToTimestamp(
                                        kStart + kDays * kDaySeconds)));
      ASSERT_EQ(answer.status, 200) << id << ": " << answer.body;
      v1::CustomerScores over_http, over_grpc;
      ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(answer.body, &over_http).ok());
      ASSERT_TRUE(ScoresOf(instance == &first ? *first_stub : *second_stub, id, &over_grpc).ok());
      EXPECT_EQ(over_http.freshness().served_by(), over_grpc.freshness().served_by()) << id;
      forwarded += over_http.freshness().forwarded();
      over_http.clear_freshness();
      over_grpc.clear_freshness();
      std::string difference;
      MessageDifferencer differ;
      differ.ReportDifferencesToString(&difference);
      EXPECT_TRUE(differ.Compare(over_grpc, over_http)) << id << ": " << difference;
    }
    EXPECT_GT(forwarded, 0);
    EXPECT_LT(forwarded, customers);
  }
  const std::uint64_t restored_by_second = RestoredRecords(second);
  EXPECT_GT(restored_by_second, 0u) << second.Log();

  // The rest of the stream, and the second instance killed while applying it.
  testing::ProduceTouchpoints(broker.bootstrap,
                              std::vector<v1::Touchpoint>(stream.begin() + half, stream.end()));
  std::this_thread::sleep_for(
      std::chrono::milliseconds(std::uniform_int_distribution<int>(0, 300)(random)));
  const std::uint64_t restored_before_kill = RestoredRecords(first);
  ASSERT_EQ(second.Stop(SIGKILL), 128 + SIGKILL);
  const Outcome got = ReadOutcome(*first_stub, broker.bootstrap, first, customers, unique);
  // The first instance took the second's partitions back from the changelog
  // (with the states the second committed meanwhile, if it had committed any
  // before the kill: it may have been killed first).
  EXPECT_GT(RestoredRecords(first), restored_before_kill) << first.Log();
  const int differences = Differences(want, got);
  std::cout << "scale-out: " << stream.size() << " touchpoints, " << customers << " customers, "
            << want.alerts.size()
            << " alerts; changelog records read to restore: " << restored_by_second
            << " by the second instance, " << RestoredRecords(first) - restored_before_kill
            << " by the first after the kill; " << differences << " differences\n";
  EXPECT_EQ(differences, 0);
  EXPECT_EQ(first.Stop(SIGTERM), 0) << first.Log();
}

// Scale-out: three instances share six partitions; one is SIGKILLed
// mid-stream, its partitions move to the two others, which restore them from
// the changelog; then every customer, asked of each survivor, has the state
// and scores of a clean single run (none lost or doubled), answered by the
// owner of their partition directly or forwarded to it, and the at-risk
// ranking of either survivor merges both.
TEST(CrashTest, ThreeInstancesOnSixPartitionsOneKilledAndEachSurvivorAnswersEveryCustomer) {
  constexpr int kSix = 6;
  const std::uint64_t seed = Seed();
  std::cout << "seed=" << seed << " (set CRM_TEST_SEED to replay)\n";
  std::mt19937_64 random(seed);
  TempDir dir;
  std::size_t unique = 0;
  const int customers = Customers(30);
  const std::vector<v1::Touchpoint> stream = MakeStream(random, customers, &unique);
  const Outcome want = CleanSinglePass(dir.path(), stream, customers, unique, kSix);
  ASSERT_EQ(want.states.size(), static_cast<std::size_t>(customers));

  DevBroker broker = StartDevBroker(dir.path() / "broker.log", kSix);
  ASSERT_FALSE(broker.bootstrap.empty());
  std::vector<std::unique_ptr<ChildProcess>> instances;
  std::vector<std::unique_ptr<v1::ScoringService::Stub>> stubs;
  for (const char* name : {"a", "b", "c"}) {
    instances.push_back(std::make_unique<ChildProcess>(
        CRM_SCORED_BIN, ServiceArgs(broker.bootstrap, dir.path() / name),
        dir.path() / (std::string(name) + ".log")));
    stubs.push_back(StubOf(*instances.back()));
    ASSERT_NE(stubs.back(), nullptr);
  }
  const auto logs = [&] {
    std::string all;
    for (const auto& instance : instances) all += instance->Log();
    return all;
  };
  // The group settled: each instance's ranking merges all three.
  const auto ranked_by = [&](v1::ScoringService::Stub& stub, v1::ListAtRiskCustomersResponse* out) {
    v1::ListAtRiskCustomersRequest request;
    request.set_top_n(20);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + 10s);
    return stub.ListAtRiskCustomers(&context, request, out);
  };
  auto until = std::chrono::steady_clock::now() + 90s;
  for (bool all_three = false; !all_three && std::chrono::steady_clock::now() < until;) {
    all_three = true;
    for (auto& stub : stubs) {
      v1::ListAtRiskCustomersResponse ranking;
      all_three = all_three && ranked_by(*stub, &ranking).ok() && ranking.instances_size() == 3 &&
                  ranking.partitions_size() == kSix;
    }
    if (!all_three) std::this_thread::sleep_for(200ms);
  }
  {
    v1::ListAtRiskCustomersResponse ranking;
    ASSERT_TRUE(ranked_by(*stubs[0], &ranking).ok()) << logs();
    ASSERT_EQ(ranking.instances_size(), 3) << logs();
  }

  // Half the stream, applied by the three (asked through a); then the rest,
  // and b killed while applying it.
  const std::size_t half = stream.size() / 2;
  std::set<std::pair<std::string, std::string>> first_half;
  for (std::size_t i = 0; i < half; ++i) {
    first_half.emplace(stream[i].customer_id(), stream[i].event_id());
  }
  testing::ProduceTouchpoints(broker.bootstrap,
                              std::vector<v1::Touchpoint>(stream.begin(), stream.begin() + half));
  const auto applied = [&] {
    std::uint64_t total = 0;
    for (int c = 0; c < customers; ++c) {
      v1::CustomerScores scores;
      if (ScoresOf(*stubs[0], "crash-" + std::to_string(c), &scores).ok()) {
        total += scores.events_applied();
      }
    }
    return total;
  };
  until = std::chrono::steady_clock::now() + 60s;
  while (applied() < first_half.size() && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(200ms);
  }
  ASSERT_EQ(applied(), first_half.size()) << logs();
  testing::ProduceTouchpoints(broker.bootstrap,
                              std::vector<v1::Touchpoint>(stream.begin() + half, stream.end()));
  std::this_thread::sleep_for(
      std::chrono::milliseconds(std::uniform_int_distribution<int>(0, 500)(random)));
  const auto survivors_restored = [&] {
    return RestoredRecords(*instances[0]) + RestoredRecords(*instances[2]);
  };
  const std::uint64_t restored_before_kill = survivors_restored();
  ASSERT_EQ(instances[1]->Stop(SIGKILL), 128 + SIGKILL);

  // Each survivor answers every customer: the same states and scores as the
  // clean run (the population each ranks against is complete once the
  // owners' histograms have been shared: waited for, up to a minute).
  int differences = 0;
  for (std::size_t survivor : {0u, 2u}) {
    Outcome got;
    std::set<std::string> served_by;
    int forwarded = 0;
    until = std::chrono::steady_clock::now() + 60s;
    for (;;) {
      got = ReadOutcome(*stubs[survivor], broker.bootstrap, *instances[survivor], customers, unique,
                        kSix);
      served_by.clear();
      forwarded = 0;
      bool same = got.scores.size() == want.scores.size();
      for (const auto& [id, clean] : want.scores) {
        const auto it = got.scores.find(id);
        same = same && it != got.scores.end() && MessageDifferencer::Equals(it->second, clean);
      }
      if (same || std::chrono::steady_clock::now() > until) break;
      std::this_thread::sleep_for(500ms);
    }
    differences += Differences(want, got);
    // Who answered: both survivors (none by b), some directly, some
    // forwarded; each answer saying how fresh it is.
    for (const auto& [id, clean] : want.scores) {
      v1::CustomerScores scores;
      ASSERT_TRUE(ScoresOf(*stubs[survivor], id, &scores).ok()) << id;
      served_by.insert(scores.freshness().served_by());
      forwarded += scores.freshness().forwarded();
      EXPECT_EQ(scores.freshness().partition_count(), kSix);
      EXPECT_EQ(scores.freshness().population_partitions(), kSix);
      EXPECT_GE(scores.freshness().lag(), 0);
      EXPECT_TRUE(scores.freshness().has_updated_at());
    }
    EXPECT_EQ(served_by.size(), 2u) << logs();
    EXPECT_GT(forwarded, 0);
    EXPECT_LT(forwarded, customers);
    v1::ListAtRiskCustomersResponse ranking;
    ASSERT_TRUE(ranked_by(*stubs[survivor], &ranking).ok()) << logs();
    EXPECT_EQ(ranking.instances_size(), 2);
    EXPECT_EQ(ranking.partitions_size(), kSix);
    for (int i = 1; i < ranking.customers_size(); ++i) {
      EXPECT_GE(ranking.customers(i - 1).churn(), ranking.customers(i).churn());
    }
  }
  // A customer nobody has seen: NOT_FOUND from their partition's owner (the
  // partition computed as the producer's partitioner did: no record said
  // otherwise), whichever survivor is asked.
  for (std::size_t survivor : {0u, 2u}) {
    v1::CustomerScores scores;
    EXPECT_EQ(ScoresOf(*stubs[survivor], "nobody-" + std::to_string(seed), &scores).error_code(),
              grpc::StatusCode::NOT_FOUND);
    EXPECT_EQ(instances[survivor]->Log().find("the producers use another partitioner"),
              std::string::npos);
  }
  // A survivor's metrics: two live instances, every partition claimed.
  {
    const auto metrics = instances[0]->WaitForLog("metrics listening on http://", 1s);
    ASSERT_TRUE(metrics);
    const std::string url = "http://" + *metrics;
    until = std::chrono::steady_clock::now() + 30s;
    while (SumSamples(HttpGet(url).value_or(""), "crm_cluster_members") != 2 &&
           std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(200ms);
    }
    const std::string page = HttpGet(url).value_or("");
    EXPECT_EQ(SumSamples(page, "crm_cluster_members"), 2) << page;
    EXPECT_EQ(SumSamples(page, "crm_cluster_partitions_claimed"), kSix) << page;
  }
  // b's partitions were restored from the changelog by the survivors.
  const std::uint64_t restored_after_kill = survivors_restored() - restored_before_kill;
  EXPECT_GT(restored_after_kill, 0u) << logs();
  std::cout << "three instances: " << stream.size() << " touchpoints, " << customers
            << " customers, " << want.alerts.size() << " alerts; " << restored_after_kill
            << " changelog records read to restore after the kill; " << differences
            << " differences\n";
  EXPECT_EQ(differences, 0);
  for (std::size_t survivor : {0u, 2u}) {
    EXPECT_EQ(instances[survivor]->Stop(SIGTERM), 0) << instances[survivor]->Log();
  }
}

// Erasure reaches the owner, and callers' credentials stay where they were
// presented: two instances share the partitions, every call needs a
// credential (--grpc-auth all), and each instance knows only its own reader
// and admin tokens; they share a cluster token. A customer is erased through
// the instance that does not own them, with that instance's admin token:
// the owner carries it out (erased = true) on the forwarding instance's word,
// after which neither instance knows them and no ranking lists them. A call
// claiming to be forwarded without the cluster token is refused.
TEST(ClusterErasureTest, AnErasureAskedOfANonOwnerIsCarriedOutByTheOwner) {
  constexpr int kFour = 4;
  const std::vector<std::string> names = {"a", "b"};
  const std::map<std::string, std::string> admin = {{"a", "0123456789abcdef-admin-of-a"},
                                                    {"b", "0123456789abcdef-admin-of-b"}};
  const std::map<std::string, std::string> reader = {{"a", "0123456789abcdef-reader-of-a"},
                                                     {"b", "0123456789abcdef-reader-of-b"}};
  constexpr char kClusterToken[] = "0123456789abcdef-shared-by-a-and-b";
  TempDir dir;
  std::ofstream(dir.path() / "cluster") << "pods:" << kClusterToken << "\n";
  DevBroker broker = StartDevBroker(dir.path() / "broker.log", kFour);
  ASSERT_FALSE(broker.bootstrap.empty());
  // Steady buyers gone silent, each seen again (a contact) at day 500: every
  // one is at risk, on each partition.
  constexpr int kCustomers = 12;
  std::vector<v1::Touchpoint> stream;
  for (int c = 0; c < kCustomers; ++c) {
    const std::string customer = "erase-" + std::to_string(c);
    for (int i = 0; i < 20; ++i) {
      stream.push_back(testing::DayTouchpoint(customer, customer + "-p" + std::to_string(i), 14 * i,
                                              v1::PURCHASE, 40));
    }
    stream.push_back(testing::DayTouchpoint(customer, customer + "-c", 500, v1::CONTACT, 0));
  }
  testing::ProduceTouchpoints(broker.bootstrap, stream);
  std::vector<std::unique_ptr<ChildProcess>> instances;
  std::vector<std::unique_ptr<v1::ScoringService::Stub>> stubs;
  for (const std::string& name : names) {
    std::ofstream(dir.path() / ("admins-" + name))
        << "ops-" << name << ":" << admin.at(name) << "\n";
    std::ofstream(dir.path() / ("readers-" + name))
        << "desk-" << name << ":" << reader.at(name) << "\n";
    std::vector<std::string> args = ServiceArgs(broker.bootstrap, dir.path() / name);
    args.insert(args.end(), {"--grpc-auth", "all", "--admin-token-file",
                             (dir.path() / ("admins-" + name)).string(), "--reader-token-file",
                             (dir.path() / ("readers-" + name)).string(), "--cluster-token-file",
                             (dir.path() / "cluster").string()});
    instances.push_back(
        std::make_unique<ChildProcess>(CRM_SCORED_BIN, args, dir.path() / (name + ".log")));
    stubs.push_back(StubOf(*instances.back()));
    ASSERT_NE(stubs.back(), nullptr);
  }
  const auto logs = [&] { return instances[0]->Log() + instances[1]->Log(); };
  // Each instance is asked with its own tokens only.
  const auto as = [](const std::string& token) {
    return [token](grpc::ClientContext& context) {
      context.set_deadline(std::chrono::system_clock::now() + 10s);
      context.AddMetadata("authorization", "Bearer " + token);
    };
  };
  const auto scores_of = [&](std::size_t i, const std::string& id, v1::CustomerScores* scores) {
    v1::GetCustomerScoresRequest request;
    request.set_customer_id(id);
    grpc::ClientContext context;
    as(reader.at(names[i]))(context);
    return stubs[i]->GetCustomerScores(&context, request, scores);
  };
  const auto listed = [&](std::size_t i) {
    std::set<std::string> ids;
    v1::ListAtRiskCustomersRequest request;
    request.set_top_n(1000);
    request.set_include_lost(true);  // every customer ranked, the lost ones too
    v1::ListAtRiskCustomersResponse response;
    grpc::ClientContext context;
    as(reader.at(names[i]))(context);
    if (stubs[i]->ListAtRiskCustomers(&context, request, &response).ok() &&
        response.instances_size() == 2 && response.partitions_size() == kFour) {
      for (const v1::CustomerScores& scores : response.customers()) {
        ids.insert(scores.customer_id());
      }
    }
    return ids;
  };
  // Settled: both instances own partitions, every customer applied and
  // ranked (each instance's ranking merges the other's, asked on its word).
  const auto until = std::chrono::steady_clock::now() + 120s;
  while ((listed(0).size() != kCustomers || listed(1).size() != kCustomers) &&
         std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(250ms);
  }
  ASSERT_EQ(listed(0).size(), static_cast<std::size_t>(kCustomers)) << logs();
  ASSERT_EQ(listed(1).size(), static_cast<std::size_t>(kCustomers)) << logs();
  // A customer a forwards to b: b owns them.
  std::string victim;
  for (int c = 0; c < kCustomers && victim.empty(); ++c) {
    v1::CustomerScores scores;
    const std::string id = "erase-" + std::to_string(c);
    ASSERT_TRUE(scores_of(0, id, &scores).ok()) << id << logs();
    if (scores.freshness().forwarded()) victim = id;
  }
  ASSERT_FALSE(victim.empty()) << "a owns every partition: " << logs();

  const auto erase = [&](std::size_t i, const std::string& token, bool* erased) {
    v1::EraseCustomerRequest request;
    request.set_customer_id(victim);
    v1::EraseCustomerResponse response;
    grpc::ClientContext context;
    as(token)(context);
    context.set_deadline(std::chrono::system_clock::now() + 60s);
    const grpc::Status status = stubs[i]->EraseCustomer(&context, request, &response);
    *erased = response.erased();
    return status;
  };
  bool erased = false;
  // A reader of a may not; a call posing as forwarded, without the cluster
  // token or with a wrong one, is refused by the owner.
  EXPECT_EQ(erase(0, reader.at("a"), &erased).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  for (const std::string& token : {std::string(), std::string("0123456789abcdef-forged")}) {
    v1::EraseCustomerRequest request;
    request.set_customer_id(victim);
    v1::EraseCustomerResponse response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + 10s);
    context.AddMetadata("crm-forwarded-by", "a");
    context.AddMetadata("crm-forwarded-for", "token:ops-a");
    context.AddMetadata("crm-forwarded-role", "admin");
    if (!token.empty()) context.AddMetadata("crm-cluster-token", token);
    EXPECT_EQ(stubs[1]->EraseCustomer(&context, request, &response).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
  }
  const grpc::Status status = erase(0, admin.at("a"), &erased);
  ASSERT_TRUE(status.ok()) << status.error_message() << logs();
  EXPECT_TRUE(erased) << logs();
  for (std::size_t i : {0u, 1u}) {
    v1::CustomerScores scores;
    EXPECT_EQ(scores_of(i, victim, &scores).error_code(), grpc::StatusCode::NOT_FOUND);
    const std::set<std::string> ids = listed(i);
    EXPECT_EQ(ids.size(), static_cast<std::size_t>(kCustomers - 1)) << logs();
    EXPECT_FALSE(ids.contains(victim));
  }
  // Asked again, of either: the owner says there is nothing left to erase.
  for (std::size_t i : {0u, 1u}) {
    ASSERT_TRUE(erase(i, admin.at(names[i]), &erased).ok()) << logs();
    EXPECT_FALSE(erased);
  }
  // The audit trail is the owner's, naming the caller and the instance that
  // vouched for them; a's token never reached b.
  const std::string audit = testing::ReadFile(dir.path() / "b" / "audit.log");
  EXPECT_NE(audit.find("token:ops-a via "), std::string::npos) << audit;
  EXPECT_EQ(testing::ReadFile(dir.path() / "a" / "audit.log").find(victim), std::string::npos);
  for (auto& instance : instances) EXPECT_EQ(instance->Stop(SIGTERM), 0) << instance->Log();
}

// Forwarded calls go only to peers whose identity can be verified: in
// plaintext, to instances on loopback only (unless --allow-insecure-peers).
// b listens on every interface and advertises this host's name: a does not
// forward to it (UNAVAILABLE, saying why), while b forwards to a on loopback.
TEST(ClusterPeersTest, InPlaintextCallsAreForwardedToLoopbackPeersOnly) {
  constexpr int kTwo = 2;
  TempDir dir;
  DevBroker broker = StartDevBroker(dir.path() / "broker.log", kTwo);
  ASSERT_FALSE(broker.bootstrap.empty());
  constexpr int kCustomers = 8;
  std::vector<v1::Touchpoint> stream;
  for (int c = 0; c < kCustomers; ++c) {
    const std::string customer = "peer-" + std::to_string(c);
    stream.push_back(testing::DayTouchpoint(customer, customer + "-p", 1, v1::PURCHASE, 40));
  }
  testing::ProduceTouchpoints(broker.bootstrap, stream);
  ChildProcess a(CRM_SCORED_BIN, ServiceArgs(broker.bootstrap, dir.path() / "a"),
                 dir.path() / "a.log");
  std::vector<std::string> wide = ServiceArgs(broker.bootstrap, dir.path() / "b");
  const auto listen = std::find(wide.begin(), wide.end(), "--grpc-listen");
  ASSERT_NE(listen, wide.end());
  *(listen + 1) = "0.0.0.0:0";
  ChildProcess b(CRM_SCORED_BIN, wide, dir.path() / "b.log");
  auto stub_a = StubOf(a);
  ASSERT_NE(stub_a, nullptr);
  const auto b_port = b.WaitForLog("gRPC listening on 0.0.0.0:", 30s);
  ASSERT_TRUE(b_port) << b.Log();
  auto stub_b = v1::ScoringService::NewStub(
      grpc::CreateChannel("127.0.0.1:" + b_port->substr(0, b_port->find_first_not_of("0123456789")),
                          grpc::InsecureChannelCredentials()));
  const auto ranking = [](v1::ScoringService::Stub& stub, v1::ListAtRiskCustomersResponse* out) {
    v1::ListAtRiskCustomersRequest request;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + 10s);
    return stub.ListAtRiskCustomers(&context, request, out);
  };
  // Settled: each owns a partition, b's ranking merges a's (b forwards to
  // a, on loopback), every customer's touchpoint is applied (b answers each
  // one), and a has read b's claim.
  const auto every_customer_answered = [&] {
    for (int c = 0; c < kCustomers; ++c) {
      v1::CustomerScores scores;
      if (!ScoresOf(*stub_b, "peer-" + std::to_string(c), &scores).ok()) return false;
    }
    return true;
  };
  const auto until = std::chrono::steady_clock::now() + 120s;
  for (;;) {
    v1::ListAtRiskCustomersResponse merged;
    if (ranking(*stub_b, &merged).ok() && merged.instances_size() == 2 &&
        every_customer_answered() && Metric(a, "crm_cluster_members") == 2) {
      break;
    }
    ASSERT_LT(std::chrono::steady_clock::now(), until) << a.Log() << b.Log();
    std::this_thread::sleep_for(250ms);
  }
  // a forwards nothing to b, whose address is not loopback.
  v1::ListAtRiskCustomersResponse response;
  const grpc::Status merged = ranking(*stub_a, &response);
  EXPECT_EQ(merged.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_NE(merged.error_message().find("cannot be verified"), std::string::npos)
      << merged.error_message();
  int refused = 0, answered = 0;
  for (int c = 0; c < kCustomers; ++c) {
    v1::CustomerScores scores;
    const grpc::Status status = ScoresOf(*stub_a, "peer-" + std::to_string(c), &scores);
    if (status.ok()) {
      ++answered;
      EXPECT_FALSE(scores.freshness().forwarded());
    } else {
      ++refused;
      EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
      EXPECT_NE(status.error_message().find("cannot be verified"), std::string::npos)
          << status.error_message();
    }
    // b answers every one (a's through a, on loopback).
    EXPECT_TRUE(ScoresOf(*stub_b, "peer-" + std::to_string(c), &scores).ok());
  }
  EXPECT_GT(refused, 0);
  EXPECT_GT(answered, 0);
  EXPECT_EQ(a.Stop(SIGTERM), 0) << a.Log();
  EXPECT_EQ(b.Stop(SIGTERM), 0) << b.Log();
}

// Over TLS, a call is forwarded only to a peer whose certificate (signed by
// --peer-tls-ca) names the instance its cluster record claims. a's
// certificate names "a"; b's, signed by the same CA, names "not-b" (and
// 127.0.0.1, the address b advertises): a forwards nothing to b
// (UNAVAILABLE, saying the certificate does not match), while b forwards to a.
TEST(ClusterPeersTest, OverTlsCallsAreForwardedOnlyToPeersWhoseCertificateNamesThem) {
  constexpr int kTwo = 2;
  TempDir dir;
  std::ofstream(dir.path() / "certs.sh")
      << "set -e; cd '" << dir.path().string() << "'\n"
      << "key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:prime256v1 -out $1; }\n"
      << "key ca.key; openssl req -x509 -new -key ca.key -out ca.pem -days 2 -subj /CN=test-ca\n"
      << "cert() {\n"
      << "  key $1.key; openssl req -new -key $1.key -out $1.csr -subj /CN=$2\n"
      << "  printf 'subjectAltName=%s\\n' \"$3\" > $1.ext\n"
      << "  openssl x509 -req -in $1.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \\\n"
      << "    -extfile $1.ext -out $1.pem\n"
      << "}\n"
      << "cert a a DNS:a,DNS:localhost\n"
      << "cert b not-b DNS:not-b,DNS:localhost,IP:127.0.0.1\n";
  ChildProcess openssl("/bin/bash", {(dir.path() / "certs.sh").string()}, dir.path() / "certs.log");
  ASSERT_EQ(openssl.Wait(60s), 0) << openssl.Log();
  DevBroker broker = StartDevBroker(dir.path() / "broker.log", kTwo);
  ASSERT_FALSE(broker.bootstrap.empty());
  constexpr int kCustomers = 8;
  std::vector<v1::Touchpoint> stream;
  for (int c = 0; c < kCustomers; ++c) {
    const std::string customer = "tls-" + std::to_string(c);
    stream.push_back(testing::DayTouchpoint(customer, customer + "-p", 1, v1::PURCHASE, 40));
  }
  testing::ProduceTouchpoints(broker.bootstrap, stream);
  std::map<std::string, std::unique_ptr<ChildProcess>> instances;
  std::map<std::string, std::unique_ptr<v1::ScoringService::Stub>> stubs;
  for (const std::string name : {"a", "b"}) {
    std::vector<std::string> args = ServiceArgs(broker.bootstrap, dir.path() / name);
    args.insert(args.end(),
                {"--instance-id", name, "--grpc-tls-cert", (dir.path() / (name + ".pem")).string(),
                 "--grpc-tls-key", (dir.path() / (name + ".key")).string(), "--peer-tls-ca",
                 (dir.path() / "ca.pem").string()});
    instances[name] =
        std::make_unique<ChildProcess>(CRM_SCORED_BIN, args, dir.path() / (name + ".log"));
    const auto port = instances[name]->WaitForLog("gRPC listening on 127.0.0.1:", 60s);
    ASSERT_TRUE(port) << instances[name]->Log();
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = testing::ReadFile(dir.path() / "ca.pem");
    grpc::ChannelArguments channel;
    channel.SetSslTargetNameOverride("localhost");
    stubs[name] = v1::ScoringService::NewStub(
        grpc::CreateCustomChannel("127.0.0.1:" + *port, grpc::SslCredentials(ssl), channel));
  }
  ChildProcess& a = *instances["a"];
  ChildProcess& b = *instances["b"];
  const auto ranking = [](v1::ScoringService::Stub& stub, v1::ListAtRiskCustomersResponse* out) {
    v1::ListAtRiskCustomersRequest request;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + 10s);
    return stub.ListAtRiskCustomers(&context, request, out);
  };
  // a forwards nothing to b, whose certificate names another instance.
  const auto mismatch = [](const grpc::Status& status) {
    return status.error_code() == grpc::StatusCode::UNAVAILABLE &&
           status.error_message().find("certificate does not match") != std::string::npos;
  };
  // Settled: each owns a partition, b's ranking merges a's (b forwards to
  // a, whose certificate names it), b answers every customer, and a knows
  // b's claim (a answers each customer, or refuses to forward).
  const auto every_customer_answered = [&] {
    for (int c = 0; c < kCustomers; ++c) {
      v1::CustomerScores scores;
      if (!ScoresOf(*stubs["b"], "tls-" + std::to_string(c), &scores).ok()) return false;
      const grpc::Status status = ScoresOf(*stubs["a"], "tls-" + std::to_string(c), &scores);
      if (!status.ok() && !mismatch(status)) return false;
    }
    return true;
  };
  const auto until = std::chrono::steady_clock::now() + 180s;
  for (;;) {
    v1::ListAtRiskCustomersResponse merged;
    if (ranking(*stubs["b"], &merged).ok() && merged.instances_size() == 2 &&
        every_customer_answered()) {
      break;
    }
    ASSERT_LT(std::chrono::steady_clock::now(), until) << a.Log() << b.Log();
    std::this_thread::sleep_for(250ms);
  }
  v1::ListAtRiskCustomersResponse response;
  const grpc::Status merged = ranking(*stubs["a"], &response);
  EXPECT_TRUE(mismatch(merged)) << merged.error_code() << " " << merged.error_message();
  int refused = 0, answered = 0, forwarded = 0;
  for (int c = 0; c < kCustomers; ++c) {
    const std::string id = "tls-" + std::to_string(c);
    v1::CustomerScores scores;
    const grpc::Status status = ScoresOf(*stubs["a"], id, &scores);
    if (status.ok()) {
      ++answered;
      EXPECT_FALSE(scores.freshness().forwarded());
    } else {
      ++refused;
      EXPECT_TRUE(mismatch(status)) << status.error_code() << " " << status.error_message();
    }
    // b answers every one (a's forwarded to a).
    ASSERT_TRUE(ScoresOf(*stubs["b"], id, &scores).ok()) << id;
    if (scores.freshness().forwarded()) ++forwarded;
  }
  EXPECT_GT(refused, 0);
  EXPECT_GT(answered, 0);
  EXPECT_EQ(forwarded, answered);
  EXPECT_EQ(a.Stop(SIGTERM), 0) << a.Log();
  EXPECT_EQ(b.Stop(SIGTERM), 0) << b.Log();
}

}  // namespace
}  // namespace crm
