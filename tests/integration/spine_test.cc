// The spine on the real stack: librdkafka's mock cluster in this process, the
// crm-scored binary as a child process on RocksDB in a temp dir, a real
// producer, and every customer's state checked through gRPC against a tally
// this test computes on its own. The service is stopped mid-stream once with
// SIGTERM and once with SIGKILL, and must end exactly as if each event had
// been applied once.
#include <google/protobuf/util/json_util.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <librdkafka/rdkafkacpp.h>

#include <cmath>
#include <condition_variable>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "crm/v1/scoring.grpc.pb.h"
#include "services/kafka/embedded_broker.h"
#include "tests/integration/service_process.h"
#include "tests/integration/test_cluster.h"
#include "tools/grpc_health.h"

namespace crm {
namespace {

using namespace std::chrono_literals;
using testing::ChildProcess;
using testing::TempDir;

constexpr int kCustomers = 500;
constexpr int kTouchpoints = 10'000;  // duplicates and poison records included
constexpr int kPartitions = 4;
constexpr std::int64_t kDayUs = 86'400'000'000LL;

enum class Encoding { kBinary, kJsonWithHeader, kJsonSniffed, kPoisonBytes, kPoisonKey };

struct Record {
  v1::Touchpoint message;
  Encoding encoding = Encoding::kBinary;
};

// What the test expects of one customer, tallied independently of core/.
struct Tally {
  std::set<std::string> event_ids;
  std::uint64_t purchases = 0, returns = 0, complaints = 0, surveys = 0, cancellations = 0,
                campaign_responses = 0;
  std::int64_t purchase_cents = 0, return_cents = 0;
  std::set<std::int64_t> purchase_days;
  std::optional<std::int64_t> first_purchase_us, last_purchase_us;
  std::map<int, std::uint64_t> contacts;                 // channel -> count
  std::map<int, std::pair<std::int64_t, bool>> consent;  // channel -> (at, granted)
};

std::int64_t MicrosOf(const google::protobuf::Timestamp& t) {
  return t.seconds() * 1'000'000 + t.nanos() / 1000;
}

void Count(const v1::Touchpoint& m, Tally& tally) {
  if (!tally.event_ids.insert(m.event_id()).second) return;  // a duplicate
  const std::int64_t at = MicrosOf(m.occurred_at());
  const auto cents = static_cast<std::int64_t>(std::llround(m.amount() * 100));
  if (m.type() != v1::CONSENT && m.type() != v1::PROFILE && m.channel() != 0) {
    ++tally.contacts[m.channel()];
  }
  switch (m.type()) {
    case v1::PURCHASE:
      ++tally.purchases;
      tally.purchase_cents += cents;
      tally.purchase_days.insert(at / kDayUs);
      tally.first_purchase_us = std::min(tally.first_purchase_us.value_or(at), at);
      tally.last_purchase_us = std::max(tally.last_purchase_us.value_or(at), at);
      break;
    case v1::RETURN:
      ++tally.returns;
      tally.return_cents += cents;
      break;
    case v1::COMPLAINT:
      ++tally.complaints;
      break;
    case v1::SURVEY:
      ++tally.surveys;
      break;
    case v1::CANCELLATION:
      ++tally.cancellations;
      break;
    case v1::CAMPAIGN_RESPONSE:
      ++tally.campaign_responses;
      break;
    case v1::CONSENT: {
      auto it = tally.consent.find(m.channel());
      if (it == tally.consent.end() || at >= it->second.first) {
        tally.consent[m.channel()] = {at, m.consent_granted()};
      }
      break;
    }
    default:
      break;
  }
}

// Differences between what the service holds and the tally; empty when equal.
std::string Diff(const Tally& want, const v1::CustomerState& got) {
  std::ostringstream out;
  auto check = [&](const char* field, auto expected, auto actual) {
    if (expected != actual) out << field << ": want " << expected << " got " << actual << "; ";
  };
  check("events_applied", want.event_ids.size(), got.events_applied());
  check("purchases", want.purchases, got.purchases());
  check("purchase_days", want.purchase_days.size(), got.purchase_days());
  check("purchase_cents", want.purchase_cents, std::llround(got.purchase_amount() * 100));
  check("returns", want.returns, got.returns());
  check("return_cents", want.return_cents, std::llround(got.return_amount() * 100));
  check("complaints", want.complaints, got.complaints());
  check("surveys", want.surveys, got.surveys());
  check("cancellations", want.cancellations, got.cancellations());
  check("campaign_responses", want.campaign_responses, got.campaign_responses());
  if (want.last_purchase_us) {
    check("last_purchase", *want.last_purchase_us, MicrosOf(got.last_purchase()));
    check("first_purchase", *want.first_purchase_us, MicrosOf(got.first_purchase()));
  }
  std::map<int, std::uint64_t> contacts;
  std::map<int, bool> consent;
  for (const auto& channel : got.channels()) {
    if (channel.contacts() > 0) contacts[channel.channel()] = channel.contacts();
    if (channel.has_consent()) consent[channel.channel()] = channel.consent();
  }
  if (contacts != want.contacts) out << "channel contacts differ; ";
  std::map<int, bool> want_consent;
  for (const auto& [channel, value] : want.consent) want_consent[channel] = value.second;
  if (consent != want_consent) out << "consents differ; ";
  return out.str();
}

std::string CustomerName(int i) {
  char name[16];
  std::snprintf(name, sizeof(name), "cust-%04d", i);
  return name;
}

// The stream: seeded, 10,000 records for 500 customers, ~5% re-sent right after
// the original with the same event id, a few poison records, event times
// spread over 200 days in random order (so many events arrive late).
std::vector<Record> MakeStream(std::uint32_t seed, std::int64_t now_us) {
  std::mt19937_64 rng(seed);
  auto uniform = [&](std::int64_t lo, std::int64_t hi) {
    return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng);
  };
  const std::vector<std::pair<v1::TouchpointType, int>> kTypeWeights = {
      {v1::CONTACT, 35},  {v1::PURCHASE, 25},    {v1::RETURN, 5},
      {v1::COMPLAINT, 8}, {v1::SURVEY, 8},       {v1::CAMPAIGN_RESPONSE, 7},
      {v1::CONSENT, 7},   {v1::CANCELLATION, 3}, {v1::PROFILE, 2}};
  std::vector<int> weights;
  for (const auto& entry : kTypeWeights) weights.push_back(entry.second);
  std::discrete_distribution<int> pick_type(weights.begin(), weights.end());

  std::vector<Record> stream;
  int serial = 0;
  while (static_cast<int>(stream.size()) < kTouchpoints) {
    Record record;
    v1::Touchpoint& m = record.message;
    const int customer = static_cast<int>(uniform(0, kCustomers - 1));
    m.set_customer_id(CustomerName(customer));
    m.set_event_id("ev-" + std::to_string(serial++));
    const std::int64_t at = now_us - 200 * kDayUs + uniform(0, 195 * kDayUs) + serial;
    m.mutable_occurred_at()->set_seconds(at / 1'000'000);
    m.mutable_occurred_at()->set_nanos(static_cast<std::int32_t>(at % 1'000'000) * 1000);
    m.set_type(kTypeWeights[pick_type(rng)].first);
    m.set_channel(static_cast<v1::Channel>(uniform(1, 9)));
    switch (m.type()) {
      case v1::PURCHASE:
      case v1::RETURN:
        m.set_amount(static_cast<double>(uniform(100, 50'000)) / 100.0);
        m.set_product("P" + std::to_string(uniform(0, 19)));
        break;
      case v1::CONTACT:
      case v1::CAMPAIGN_RESPONSE:
      case v1::CANCELLATION:
        m.set_product("P" + std::to_string(uniform(0, 19)));
        break;
      case v1::SURVEY:
        m.set_satisfaction(static_cast<std::int32_t>(uniform(0, 10)));
        break;
      case v1::CONSENT:
        m.set_consent_granted(uniform(0, 1) == 1);
        break;
      case v1::PROFILE:
        (*m.mutable_attributes())["age_band"] = std::to_string(uniform(2, 7) * 10);
        break;
      default:
        break;
    }
    const std::int64_t draw = uniform(0, 99);
    record.encoding = draw < 20   ? Encoding::kJsonWithHeader
                      : draw < 40 ? Encoding::kJsonSniffed
                                  : Encoding::kBinary;
    if (uniform(0, 999) < 3) record.encoding = Encoding::kPoisonBytes;
    if (uniform(0, 999) < 2) record.encoding = Encoding::kPoisonKey;
    stream.push_back(record);
    if (uniform(0, 99) < 5 && record.encoding != Encoding::kPoisonBytes &&
        record.encoding != Encoding::kPoisonKey) {
      Record duplicate = record;
      duplicate.encoding = Encoding::kBinary;
      stream.push_back(duplicate);
    }
  }
  stream.resize(kTouchpoints);
  return stream;
}

bool IsPoison(const Record& record) {
  return record.encoding == Encoding::kPoisonBytes || record.encoding == Encoding::kPoisonKey;
}

// The dead-letter records' source positions and reasons, read from the start
// of the DLQ until `expected` distinct ones are seen or the deadline passes.
std::map<std::string, std::string> ReadDeadLetters(const std::string& brokers,
                                                   std::size_t expected) {
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  std::string error;
  conf->set("bootstrap.servers", brokers, error);
  conf->set("group.id", "spine-test-dlq-reader", error);
  conf->set("fetch.wait.max.ms", "10", error);
  std::unique_ptr<RdKafka::KafkaConsumer> consumer(
      RdKafka::KafkaConsumer::create(conf.get(), error));
  std::vector<RdKafka::TopicPartition*> partitions;
  for (int p = 0; p < kPartitions; ++p) {
    partitions.push_back(RdKafka::TopicPartition::create(testing::TestTopic("crm.touchpoints.dlq"),
                                                         p, RdKafka::Topic::OFFSET_BEGINNING));
  }
  consumer->assign(partitions);
  RdKafka::TopicPartition::destroy(partitions);
  std::map<std::string, std::string> reasons;  // "partition@offset" -> crm.reason
  const auto until = std::chrono::steady_clock::now() + 30s;
  while (reasons.size() < expected && std::chrono::steady_clock::now() < until) {
    std::unique_ptr<RdKafka::Message> message(consumer->consume(100));
    if (message->err() != RdKafka::ERR_NO_ERROR || message->headers() == nullptr) continue;
    std::map<std::string, std::string> headers;
    for (const auto& header : message->headers()->get_all()) {
      headers[header.key()] =
          std::string(static_cast<const char*>(header.value()), header.value_size());
    }
    EXPECT_EQ(headers["crm.source.topic"], testing::TestTopic("crm.touchpoints"));
    EXPECT_FALSE(headers["crm.detail"].empty());
    reasons[headers["crm.source.partition"] + "@" + headers["crm.source.offset"]] =
        headers["crm.reason"];
  }
  consumer->close();
  return reasons;
}

class Producer {
 public:
  explicit Producer(const std::string& brokers) {
    std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
    std::string error;
    conf->set("bootstrap.servers", brokers, error);
    conf->set("enable.idempotence", "true", error);
    conf->set("linger.ms", "1", error);
    producer_.reset(RdKafka::Producer::create(conf.get(), error));
  }

  void Send(const Record& record) {
    const v1::Touchpoint& m = record.message;
    std::string key = m.customer_id();
    std::string value;
    RdKafka::Headers* headers = RdKafka::Headers::create();
    switch (record.encoding) {
      case Encoding::kBinary:
        m.SerializeToString(&value);
        break;
      case Encoding::kJsonWithHeader:
        headers->add("content-type", "application/json");
        [[fallthrough]];
      case Encoding::kJsonSniffed:
        (void)google::protobuf::util::MessageToJsonString(m, &value);
        value = "  " + value;  // sniffing skips leading white space
        break;
      case Encoding::kPoisonBytes:
        value = "\xff\xff not a touchpoint";
        break;
      case Encoding::kPoisonKey:
        m.SerializeToString(&value);
        key = "someone-else";
        break;
    }
    RdKafka::ErrorCode err;
    do {
      err = producer_->produce(testing::TestTopic("crm.touchpoints"), RdKafka::Topic::PARTITION_UA,
                               RdKafka::Producer::RK_MSG_COPY, value.data(), value.size(),
                               key.data(), key.size(), 0, headers, nullptr);
      if (err == RdKafka::ERR__QUEUE_FULL) producer_->poll(10);
    } while (err == RdKafka::ERR__QUEUE_FULL);
    ASSERT_EQ(err, RdKafka::ERR_NO_ERROR) << RdKafka::err2str(err);
    producer_->poll(0);
  }

  void Flush() { ASSERT_EQ(producer_->flush(30'000), RdKafka::ERR_NO_ERROR); }

 private:
  std::unique_ptr<RdKafka::Producer> producer_;
};

class SpineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto broker = testing::TestKafka::Start(ContractTopics(kPartitions));
    ASSERT_TRUE(broker.ok()) << broker.status();
    broker_ = std::move(*broker);
    seed_ = static_cast<std::uint32_t>(std::random_device{}());
    if (const char* fixed = std::getenv("CRM_TEST_SEED")) seed_ = std::stoul(fixed);
    std::cout << "seed=" << seed_ << " (set CRM_TEST_SEED to replay)\n";
  }

  std::unique_ptr<ChildProcess> StartService(const std::string& name) {
    std::vector<std::string> args = {
        "--brokers", broker_->bootstrap(), "--data-dir", (dir_.path() / "data").string(),
        "--grpc-listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0", "--http-listen",
        "127.0.0.1:0", "--group", "spine-test",
        // One remembered event id per customer: a crash
        // replay is then not hidden by deduplication, so
        // only atomic offsets keep the counts exact.
        "--dedup-window", "1", "--max-batch", "200", "--kafka", "session.timeout.ms=6000",
        "--kafka", "heartbeat.interval.ms=500", "--kafka", "fetch.wait.max.ms=10"};
    auto service = std::make_unique<ChildProcess>(CRM_SCORED_BIN, testing::WithTestKafka(args),
                                                  dir_.path() / (name + ".log"));
    auto port = service->WaitForLog("gRPC listening on 127.0.0.1:", 30s);
    EXPECT_TRUE(port) << service->Log();
    if (!port) return nullptr;
    channel_ = grpc::CreateChannel("127.0.0.1:" + *port, grpc::InsecureChannelCredentials());
    stub_ = v1::ScoringService::NewStub(channel_);
    return service;
  }

  // Every customer's stored state, by id; absent when NOT_FOUND.
  std::map<std::string, v1::CustomerState> Snapshot() {
    std::map<std::string, v1::CustomerState> states;
    for (int i = 0; i < kCustomers; ++i) {
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + 5s);
      v1::GetCustomerStateRequest request;
      request.set_customer_id(CustomerName(i));
      v1::CustomerState state;
      const grpc::Status status = stub_->GetCustomerState(&context, request, &state);
      if (status.ok()) {
        states[request.customer_id()] = state;
      } else if (status.error_code() != grpc::StatusCode::UNAVAILABLE) {
        // (UNAVAILABLE: its partition is being restored after a restart.)
        EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND) << status.error_message();
      }
    }
    return states;
  }

  std::uint64_t AppliedTotal() {
    std::uint64_t total = 0;
    for (const auto& [id, state] : Snapshot()) total += state.events_applied();
    return total;
  }

  // Waits until every customer's state equals the tally of `records`; on the
  // deadline, fails listing the customers that differ.
  void ExpectConverges(const std::vector<Record>& records, std::chrono::seconds deadline) {
    std::map<std::string, Tally> tallies;
    for (const Record& record : records) {
      if (!IsPoison(record)) Count(record.message, tallies[record.message.customer_id()]);
    }
    std::vector<std::string> differences;
    const auto until = std::chrono::steady_clock::now() + deadline;
    do {
      differences.clear();
      auto states = Snapshot();
      for (int i = 0; i < kCustomers; ++i) {
        const std::string id = CustomerName(i);
        auto want = tallies.find(id);
        auto got = states.find(id);
        if (want == tallies.end()) {
          if (got != states.end()) differences.push_back(id + ": unexpected state");
          continue;
        }
        if (got == states.end()) {
          differences.push_back(id + ": not found");
          continue;
        }
        if (std::string diff = Diff(want->second, got->second); !diff.empty()) {
          differences.push_back(id + ": " + diff);
        }
      }
      if (differences.empty()) return;
      std::this_thread::sleep_for(100ms);
    } while (std::chrono::steady_clock::now() < until);
    ADD_FAILURE() << differences.size() << " customers differ, first: " << differences.front();
  }

  // Produces `records` from a thread, a little at a time, so that the service
  // can be stopped while the stream is still flowing.
  std::thread ProduceSlowly(std::vector<Record> records) {
    return std::thread([this, records = std::move(records)] {
      Producer producer(broker_->bootstrap());
      for (std::size_t i = 0; i < records.size(); ++i) {
        producer.Send(records[i]);
        if (i % 50 == 49) std::this_thread::sleep_for(10ms);
      }
      producer.Flush();
    });
  }

  // Waits until the service has applied `count` more events than `baseline`.
  void WaitForProgress(std::uint64_t baseline, std::uint64_t count) {
    const auto until = std::chrono::steady_clock::now() + 60s;
    while (AppliedTotal() < baseline + count && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(20ms);
    }
  }

  TempDir dir_;
  std::unique_ptr<testing::TestKafka> broker_;
  std::uint32_t seed_ = 0;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::ScoringService::Stub> stub_;
};

TEST_F(SpineTest, EveryEventAppliedExactlyOnceAcrossCleanStopAndCrash) {
  const std::int64_t now_us = std::chrono::duration_cast<std::chrono::microseconds>(
                                  std::chrono::system_clock::now().time_since_epoch())
                                  .count();
  const std::vector<Record> stream = MakeStream(seed_, now_us);
  const auto begin = stream.begin();
  const std::vector<Record> first(begin, begin + 4000), second(begin + 4000, begin + 7000),
      third(begin + 7000, begin + 8500), last(begin + 8500, stream.end());

  // 1. A first run applies 4,000 records.
  auto service = StartService("run1");
  ASSERT_NE(service, nullptr);
  {
    Producer producer(broker_->bootstrap());
    for (const Record& record : first) producer.Send(record);
    producer.Flush();
  }
  ExpectConverges(first, 60s);

  // 2. SIGTERM while the next 3,000 flow: a clean stop, exit code 0.
  std::uint64_t baseline = AppliedTotal();
  std::thread flowing = ProduceSlowly(second);
  WaitForProgress(baseline, 300);
  EXPECT_EQ(service->Stop(SIGTERM), 0) << service->Log();
  flowing.join();

  // 3. Restart on the same data dir; SIGKILL while 1,500 more flow.
  service = StartService("run2");
  ASSERT_NE(service, nullptr);
  std::vector<Record> so_far(begin, begin + 7000);
  ExpectConverges(so_far, 60s);
  baseline = AppliedTotal();
  flowing = ProduceSlowly(third);
  WaitForProgress(baseline, 300);
  EXPECT_EQ(service->Stop(SIGKILL), 128 + SIGKILL);
  flowing.join();

  // 4. Restart after the crash, finish the stream: nothing lost, nothing doubled.
  service = StartService("run3");
  ASSERT_NE(service, nullptr);
  {
    Producer producer(broker_->bootstrap());
    for (const Record& record : last) producer.Send(record);
    producer.Flush();
  }
  ExpectConverges(stream, 90s);

  // Scores come from the same state: events_applied and RFM frequency.
  std::map<std::string, Tally> tallies;
  for (const Record& record : stream) {
    if (!IsPoison(record)) Count(record.message, tallies[record.message.customer_id()]);
  }
  for (const auto& [id, tally] : tallies) {
    grpc::ClientContext context;
    v1::GetCustomerScoresRequest request;
    request.set_customer_id(id);
    v1::CustomerScores scores;
    ASSERT_TRUE(stub_->GetCustomerScores(&context, request, &scores).ok());
    EXPECT_EQ(scores.events_applied(), tally.event_ids.size()) << id;
    EXPECT_EQ(scores.rfm().frequency(), tally.purchase_days.size()) << id;
    EXPECT_EQ(scores.rfm().purchases(), tally.purchases) << id;
    EXPECT_FALSE(scores.model_version().empty());
  }

  // Every poison record reached the dead-letter topic with its reason (at
  // least once: a crash may repeat one, so distinct source positions count).
  std::size_t bad_bytes = 0, bad_keys = 0;
  for (const Record& record : stream) {
    bad_bytes += record.encoding == Encoding::kPoisonBytes;
    bad_keys += record.encoding == Encoding::kPoisonKey;
  }
  const auto dead_letters = ReadDeadLetters(broker_->bootstrap(), bad_bytes + bad_keys);
  EXPECT_EQ(dead_letters.size(), bad_bytes + bad_keys);
  std::size_t malformed = 0, key_mismatch = 0;
  for (const auto& [position, reason] : dead_letters) {
    malformed += reason == "malformed";
    key_mismatch += reason == "key_mismatch";
  }
  EXPECT_EQ(malformed, bad_bytes);
  EXPECT_EQ(key_mismatch, bad_keys);

  // A second instance on the same data dir is refused with a clear message.
  {
    ChildProcess second_instance(
        CRM_SCORED_BIN,
        testing::WithTestKafka({"--brokers", broker_->bootstrap(), "--data-dir",
                                (dir_.path() / "data").string(), "--grpc-listen", "127.0.0.1:0",
                                "--metrics-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0"}),
        dir_.path() / "locked.log");
    EXPECT_EQ(second_instance.Wait(30s), 1);
    EXPECT_NE(second_instance.Log().find("another crm-scored"), std::string::npos)
        << second_instance.Log();
  }
  EXPECT_EQ(service->Stop(SIGTERM), 0) << service->Log();
}

TEST_F(SpineTest, UnknownCustomerIsNotFoundAndEmptyIdIsInvalid) {
  auto service = StartService("errors");
  ASSERT_NE(service, nullptr);
  {
    // The standard health service: the server and ingestion are SERVING.
    EXPECT_EQ(CheckHealth(channel_).value_or(HealthState::kUnknown), HealthState::kServing);
    EXPECT_EQ(CheckHealth(channel_, "crm.v1.Ingest").value_or(HealthState::kUnknown),
              HealthState::kServing);
  }
  {
    grpc::ClientContext context;
    v1::GetCustomerScoresRequest request;
    request.set_customer_id("nobody");
    v1::CustomerScores scores;
    EXPECT_EQ(stub_->GetCustomerScores(&context, request, &scores).error_code(),
              grpc::StatusCode::NOT_FOUND);
  }
  {
    grpc::ClientContext context;
    v1::GetCustomerScoresRequest request;
    v1::CustomerScores scores;
    EXPECT_EQ(stub_->GetCustomerScores(&context, request, &scores).error_code(),
              grpc::StatusCode::INVALID_ARGUMENT);
  }
  {
    grpc::ClientContext context;
    v1::BatchGetCustomerScoresRequest request;
    request.add_customer_ids("nobody");
    v1::BatchGetCustomerScoresResponse response;
    ASSERT_TRUE(stub_->BatchGetCustomerScores(&context, request, &response).ok());
    EXPECT_EQ(response.scores_size(), 0);
    ASSERT_EQ(response.not_found_size(), 1);
    EXPECT_EQ(response.not_found(0), "nobody");
  }
  EXPECT_EQ(service->Stop(SIGTERM), 0) << service->Log();
}

// Bad flags: exit code 2 and one line on stderr naming the problem.
TEST(ServiceFlagsTest, BadFlagsExitWithTwoAndOneLine) {
  TempDir dir;
  const auto bad_model = dir.path() / "bad.model.json";
  std::ofstream(bad_model) << R"({"version": "x", "purchase": {"bgnbd": {"r": -1}}})";
  const auto short_token = dir.path() / "short.tokens";
  std::ofstream(short_token) << "ops:tooshort\n";
  const auto cert = dir.path() / "any.pem";
  std::ofstream(cert) << "not a certificate\n";
  const std::vector<std::vector<std::string>> bad = {
      {"--no-such-flag"},
      {"--embedded-partitions", "0"},
      {"--kafka", "no-equals-sign"},
      {"--dedup-window", "zero"},
      {"--grpc-listen", "no-port"},
      {"--model", (dir.path() / "missing.model").string()},
      {"--model", bad_model.string()},
      {"--clock", "sundial"},
      {"--alert-raise", "0.4"},  // not above --alert-clear's 0.5
      {"--alert-segment", "A=0.9"},
      {"--alert-segment", "A=0.5:0.6"},
      {"--alert-segment", "D=0.8:0.4"},  // no such segment
      {"--channel-cost", "PIGEON=1"},
      {"--channel-cost", "EMAIL=0"},
      {"--risk-precision", "0"},
      {"--alert-cooldown-days", "-1"},
      {"--admin-token-file", short_token.string()},
      {"--grpc-tls-cert", cert.string()},  // without its key
      {"--admin-identity", "ops"},         // without client certificates
      // TLS in a cluster without the CA the other instances are verified against
      {"--brokers", "127.0.0.1:1", "--grpc-tls-cert", cert.string(), "--grpc-tls-key",
       cert.string()},
      {"--grpc-auth", "nobody"}};
  int run = 0;
  for (const auto& args : bad) {
    ChildProcess service(CRM_SCORED_BIN, args, dir.path() / ("bad" + std::to_string(run++)));
    EXPECT_EQ(service.Wait(30s), 2) << args.front() << ": " << service.Log();
    const std::string log = service.Log();
    EXPECT_EQ(std::count(log.begin(), log.end(), '\n'), 1) << log;
    EXPECT_EQ(log.rfind("crm-scored: ", 0), 0u) << log;
  }
}

// Flags win over CRM_* variables, which win over the config file.
TEST(ServiceFlagsTest, ConfigFileThenEnvironmentThenFlags) {
  TempDir dir;
  {
    std::ofstream config(dir.path() / "crm.toml");
    config << "max-batch = 77\ngroup = \"from-config\"\ndedup-window = 5\n"
           << "kafka = [\"client.rack=r1\"]\n";
  }
  setenv("CRM_GROUP", "from-env", 1);
  setenv("CRM_DEDUP_WINDOW", "6", 1);
  ChildProcess service(
      CRM_SCORED_BIN,
      {"--config", (dir.path() / "crm.toml").string(), "--dedup-window", "9", "--data-dir",
       (dir.path() / "data").string(), "--grpc-listen", "127.0.0.1:0", "--metrics-listen",
       "127.0.0.1:0", "--http-listen", "127.0.0.1:0", "--kafka", "client.id=from-flag"},
      dir.path() / "config.log");
  unsetenv("CRM_GROUP");
  unsetenv("CRM_DEDUP_WINDOW");
  auto effective = service.WaitForLog("starting: ", 30s);
  ASSERT_TRUE(effective) << service.Log();
  EXPECT_NE(effective->find("group=from-env "), std::string::npos) << *effective;
  EXPECT_NE(effective->find("max-batch=77"), std::string::npos) << *effective;
  EXPECT_NE(effective->find("dedup-window=9 "), std::string::npos) << *effective;
  EXPECT_NE(effective->find("kafka.client.rack=r1"), std::string::npos) << *effective;
  // The command line's --kafka adds to the file's list, key by key.
  EXPECT_NE(effective->find("kafka.client.id=from-flag"), std::string::npos) << *effective;
  EXPECT_EQ(service.Stop(SIGTERM), 0) << service.Log();

  std::ofstream(dir.path() / "bad.toml") << "no-such-flag = 1\n";
  ChildProcess bad(CRM_SCORED_BIN, {"--config", (dir.path() / "bad.toml").string()},
                   dir.path() / "bad.log");
  EXPECT_EQ(bad.Wait(30s), 2) << bad.Log();
  EXPECT_NE(bad.Log().find("unknown key 'no-such-flag' in the config file " +
                           (dir.path() / "bad.toml").string()),
            std::string::npos)
      << bad.Log();
}

// The shipped example configuration parses (brokers and paths overridden).
TEST(ServiceFlagsTest, ExampleConfigIsValid) {
  TempDir dir;
  ChildProcess service(
      CRM_SCORED_BIN,
      {"--config", CRM_SOURCE_DIR "/deploy/crm-scored.example.toml", "--brokers", "", "--data-dir",
       (dir.path() / "data").string(), "--grpc-listen", "127.0.0.1:0", "--metrics-listen",
       "127.0.0.1:0", "--http-listen", "127.0.0.1:0"},
      dir.path() / "example.log");
  ASSERT_TRUE(service.WaitForLog("gRPC listening on", 30s)) << service.Log();
  EXPECT_NE(service.Log().find("kafka.session.timeout.ms=10000"), std::string::npos);
  EXPECT_NE(service.Log().find("alert-segment.C=0.85:0.6:30"), std::string::npos) << service.Log();
  EXPECT_NE(service.Log().find("EMAIL:0.2,"), std::string::npos) << service.Log();
  EXPECT_EQ(service.Stop(SIGTERM), 0) << service.Log();
}

// --check-config validates without running: nothing is opened, the model file
// is read, and the answer is the exit code.
TEST(ServiceFlagsTest, CheckConfigValidatesWithoutRunning) {
  TempDir dir;
  const std::string data = (dir.path() / "data").string();
  ChildProcess valid(CRM_SCORED_BIN,
                     {"--check-config", "--data-dir", data, "--model",
                      CRM_SOURCE_DIR "/models/demo.json", "--kafka", "sasl.password=hunter2"},
                     dir.path() / "valid.log");
  EXPECT_EQ(valid.Wait(30s), 0) << valid.Log();
  EXPECT_NE(valid.Log().find("configuration valid: brokers=(embedded)"), std::string::npos)
      << valid.Log();
  EXPECT_NE(valid.Log().find("kafka.sasl.password=****"), std::string::npos) << valid.Log();
  EXPECT_EQ(valid.Log().find("hunter2"), std::string::npos) << valid.Log();
  EXPECT_FALSE(std::filesystem::exists(data)) << "--check-config opened the state";

  std::ofstream(dir.path() / "model.json") << "{\"version\": 1}";
  ChildProcess bad_model(
      CRM_SCORED_BIN,
      {"--check-config", "--data-dir", data, "--model", (dir.path() / "model.json").string()},
      dir.path() / "bad-model.log");
  EXPECT_EQ(bad_model.Wait(30s), 2) << bad_model.Log();
  EXPECT_NE(bad_model.Log().find("crm-scored: --model: "), std::string::npos) << bad_model.Log();

  std::ofstream(dir.path() / "bad.toml") << "alert-raise = 0.2\nalert-clear = 0.5\n";
  ChildProcess bad_config(CRM_SCORED_BIN,
                          {"--check-config", "--config", (dir.path() / "bad.toml").string()},
                          dir.path() / "bad-config.log");
  EXPECT_EQ(bad_config.Wait(30s), 2) << bad_config.Log();
  EXPECT_EQ(bad_config.Log().find("configuration valid"), std::string::npos) << bad_config.Log();
}

// Bearer tokens or --grpc-auth all on a plaintext listener that is not
// loopback: refused at start and by --check-config (exit 2, one line), unless
// --allow-insecure-listen says so; on loopback, or with TLS, accepted.
TEST(ServiceFlagsTest, CredentialsInPlaintextOffLoopbackAreRefused) {
  TempDir dir;
  const std::string tokens = (dir.path() / "tokens").string();
  std::ofstream(tokens) << "ops:0123456789abcdef-ops-token\n";
  const std::string data = (dir.path() / "data").string();
  const std::vector<std::vector<std::string>> refused = {
      {"--grpc-listen", "0.0.0.0:0", "--admin-token-file", tokens},
      {"--grpc-listen", "[::]:0", "--reader-token-file", tokens},
      {"--grpc-listen", "10.1.2.3:50051", "--grpc-auth", "all"},
      {"--check-config", "--grpc-listen", "0.0.0.0:50051", "--admin-token-file", tokens},
      {"--check-config", "--grpc-listen", "0.0.0.0:50051", "--grpc-auth", "all"}};
  int run = 0;
  for (std::vector<std::string> args : refused) {
    args.insert(args.end(), {"--data-dir", data, "--metrics-listen", "127.0.0.1:0", "--http-listen",
                             "127.0.0.1:0"});
    ChildProcess service(CRM_SCORED_BIN, args, dir.path() / ("refused" + std::to_string(run++)));
    EXPECT_EQ(service.Wait(30s), 2) << args[1] << ": " << service.Log();
    const std::string log = service.Log();
    EXPECT_EQ(std::count(log.begin(), log.end(), '\n'), 1) << log;
    EXPECT_NE(log.find("crm-scored: --grpc-listen "), std::string::npos) << log;
    EXPECT_NE(log.find("--allow-insecure-listen"), std::string::npos) << log;
  }
  EXPECT_FALSE(std::filesystem::exists(data)) << "a refused configuration opened the state";
  const std::vector<std::vector<std::string>> accepted = {
      {"--grpc-listen", "0.0.0.0:50051", "--admin-token-file", tokens, "--allow-insecure-listen"},
      {"--grpc-listen", "127.0.0.1:50051", "--admin-token-file", tokens, "--grpc-auth", "all"},
      {"--grpc-listen", "localhost:50051", "--reader-token-file", tokens},
      {"--grpc-listen", "0.0.0.0:50051"},
      {"--grpc-listen", "0.0.0.0:50051", "--grpc-auth", "all", "--grpc-tls-cert", tokens,
       "--grpc-tls-key", tokens}};  // read only at start, not by --check-config
  for (std::vector<std::string> args : accepted) {
    args.insert(args.end(), {"--check-config", "--data-dir", data});
    ChildProcess service(CRM_SCORED_BIN, args, dir.path() / ("accepted" + std::to_string(run++)));
    EXPECT_EQ(service.Wait(30s), 0) << args[1] << " " << args.size() << ": " << service.Log();
  }
}

TEST(ServiceFlagsTest, HelpSaysWhatItDoes) {
  TempDir dir;
  ChildProcess service(CRM_SCORED_BIN, {"--help"}, dir.path() / "help.log");
  EXPECT_EQ(service.Wait(30s), 0);
  EXPECT_NE(service.Log().find("churn"), std::string::npos) << service.Log();
  EXPECT_NE(service.Log().find("--brokers"), std::string::npos);
}

}  // namespace
}  // namespace crm
