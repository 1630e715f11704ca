// RocksDbStateStore on a real RocksDB in a temp dir: every partition's state
// under a prefix of its own, dropped on its own, and data dirs of format 2
// brought to format 3 at open.
#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "services/codec/state_codec.h"
#include "services/storage/rocksdb_state_store.h"
#include "tools/child_process.h"

namespace crm {
namespace {

constexpr char kTopic[] = "crm.touchpoints";

CustomerState StateOf(std::int32_t partition, std::uint64_t events) {
  CustomerState state;
  state.partition = partition;
  state.events_applied = events;
  return state;
}

std::map<CustomerId, Timestamp> NextLooks(StateStore& store, std::int32_t partition) {
  std::map<CustomerId, Timestamp> looks;
  const absl::Status read = store.ForEachNextLook(
      partition,
      [&](const CustomerId& id, Timestamp at) { EXPECT_TRUE(looks.emplace(id, at).second); });
  EXPECT_TRUE(read.ok()) << read;
  return looks;
}

std::unique_ptr<RocksDbStateStore> Open(const TempDir& dir,
                                        std::vector<std::uint64_t>* progress = nullptr) {
  RocksDbOptions options;
  options.path = (dir.path() / "data").string();
  options.low_priority_compactions = false;
  if (progress != nullptr) {
    options.progress = [progress](std::uint64_t moved, bool) { progress->push_back(moved); };
  }
  auto store = RocksDbStateStore::Open(options);
  EXPECT_TRUE(store.ok()) << store.status();
  return store.ok() ? std::move(*store) : nullptr;
}

TEST(StateStoreTest, EachPartitionKeepsItsOwnStatesIndexesAndProgressAndIsDroppedAlone) {
  TempDir dir;
  auto store = Open(dir);
  ASSERT_NE(store, nullptr);
  const CustomerId a("a"), b("b"), c("c");
  CustomerState a0 = StateOf(0, 1), b1 = StateOf(1, 2);
  const CustomerState c1 = StateOf(1, 3);
  a0.alert.next_look = FromMicros(5);
  b1.alert.next_look = FromMicros(6);
  StateBatch batch;
  batch.customers = {{&a, &a0}, {&b, &b1}, {&c, &c1}};
  batch.partitions = {{0, PartitionState{.next_offset = 10}},
                      {1, PartitionState{.next_offset = 20}}};
  batch.population = {
      {.partition = 0, .axis = PopulationAxis::kFrequency, .bucket = 1, .count = 1},
      {.partition = 1, .axis = PopulationAxis::kFrequency, .bucket = 1, .count = 2}};
  batch.index = {{.partition = 0, .customer = &a, .risk_to = 0.9},
                 {.partition = 1, .customer = &b, .risk_to = 0.8}};
  ASSERT_TRUE(store->Commit(kTopic, batch).ok());

  EXPECT_EQ(store->Get(0, a).value()->events_applied, 1u);
  EXPECT_FALSE(store->Get(1, a).value().has_value());  // a's state is under partition 0
  EXPECT_EQ(store->Find(b).value()->events_applied, 2u);
  EXPECT_EQ(store->Find(b).value()->partition, 1);
  EXPECT_EQ(store->Find(c, /*hint=*/0).value()->events_applied, 3u);  // a wrong hint
  EXPECT_FALSE(store->Find(CustomerId("nobody")).value().has_value());
  const std::vector<RiskEntry> risky = store->Riskiest(std::nullopt, 10).value();
  ASSERT_EQ(risky.size(), 2u);
  EXPECT_EQ(risky[0], (RiskEntry{0.9, a, 0}));
  EXPECT_EQ(risky[1], (RiskEntry{0.8, b, 1}));
  // The next looks are the states' own (c has none).
  EXPECT_EQ(NextLooks(*store, 1), (std::map<CustomerId, Timestamp>{{b, FromMicros(6)}}));

  // A state without a partition has no place: refused, nothing written.
  const CustomerId d("d");
  const CustomerState loose;
  StateBatch bad;
  bad.customers = {{&d, &loose}};
  bad.partitions = {{0, PartitionState{.next_offset = 99}}};
  EXPECT_FALSE(store->Commit(kTopic, bad).ok());
  EXPECT_EQ(store->GetOffset(kTopic, 0).value(), 10);

  ASSERT_TRUE(store->DropPartition(kTopic, 1).ok());
  EXPECT_FALSE(store->Find(b).value().has_value());
  EXPECT_FALSE(store->Find(c).value().has_value());
  EXPECT_FALSE(store->GetPartition(kTopic, 1).value().has_value());
  EXPECT_TRUE(NextLooks(*store, 1).empty());
  EXPECT_EQ(store->Riskiest(std::nullopt, 10).value(), (std::vector<RiskEntry>{{0.9, a, 0}}));
  const std::vector<PopulationCell> cells = store->LoadPopulation(kTopic).value();
  ASSERT_EQ(cells.size(), 1u);
  EXPECT_EQ(cells[0].partition, 0);
  // Partition 0 is untouched.
  EXPECT_EQ(store->Get(0, a).value()->events_applied, 1u);
  EXPECT_EQ(store->GetOffset(kTopic, 0).value(), 10);
  EXPECT_EQ(NextLooks(*store, 0), (std::map<CustomerId, Timestamp>{{a, FromMicros(5)}}));
}

// The offer index: per product, highest appetence first across partitions,
// paged; an entry replaced when the appetence moves, left when it does not,
// gone with the customer's erasure or their partition.
TEST(StateStoreTest, WritesTheStatesAsTheCommitEncodedThem) {
  TempDir dir;
  auto store = Open(dir);
  ASSERT_NE(store, nullptr);
  const CustomerId a("a"), b("b");
  const CustomerState a0 = StateOf(0, 1), b0 = StateOf(0, 2), other = StateOf(0, 7);
  StateBatch batch;
  batch.customers = {{&a, &a0}, {&b, &b0}};
  // The bytes given are written as they are, not the states encoded again.
  batch.encoded = {EncodeState(a0), EncodeState(other)};
  ASSERT_TRUE(store->Commit(kTopic, batch).ok());
  EXPECT_EQ(store->Get(0, a).value()->events_applied, 1u);
  EXPECT_EQ(store->Get(0, b).value()->events_applied, 7u);
  // Without them the store encodes the states itself.
  batch.encoded.clear();
  ASSERT_TRUE(store->Commit(kTopic, batch).ok());
  EXPECT_EQ(store->Get(0, b).value()->events_applied, 2u);
}

// Commits of several threads land out of sequence: an alert may reach the
// outbox after the publisher read later ones. Acknowledging those must not
// take it with them.
TEST(StateStoreTest, AcknowledgingAlertsLeavesAnAlertCommittedBelowThem) {
  TempDir dir;
  auto store = Open(dir);
  ASSERT_NE(store, nullptr);
  auto alert_of = [](const char* customer) {
    AlertEvent alert;
    alert.customer_id = CustomerId(customer);
    alert.outcome.alert_id = std::string(customer) + "-1";
    return alert;
  };
  const AlertEvent a = alert_of("a"), b = alert_of("b"), c = alert_of("c");
  StateBatch later;
  later.outbox = {{5, &a}, {7, &c}};
  ASSERT_TRUE(store->Commit(kTopic, later).ok());
  auto read = store->PendingAlerts(10);
  ASSERT_TRUE(read.ok()) << read.status();
  ASSERT_EQ(read->size(), 2u);

  StateBatch late;  // sequence 6, taken before 7 and committed after the read
  late.outbox = {{6, &b}};
  ASSERT_TRUE(store->Commit(kTopic, late).ok());
  ASSERT_TRUE(store->AckAlerts({(*read)[0].first, (*read)[1].first}).ok());

  auto pending = store->PendingAlerts(10);
  ASSERT_TRUE(pending.ok()) << pending.status();
  ASSERT_EQ(pending->size(), 1u);
  EXPECT_EQ(pending->front().first, 6u);
  EXPECT_EQ(pending->front().second.customer_id, CustomerId("b"));
  EXPECT_EQ(store->LastPendingAlert().value(), std::optional<std::uint64_t>(6));
}

TEST(StateStoreTest, TheOfferIndexRanksEachProductAndFollowsTheCustomer) {
  TempDir dir;
  auto store = Open(dir);
  ASSERT_NE(store, nullptr);
  const CustomerId a("a"), b("b"), c("c");
  const CustomerState a0 = StateOf(0, 1), b1 = StateOf(1, 1), c1 = StateOf(1, 1);
  StateBatch batch;
  batch.customers = {{&a, &a0}, {&b, &b1}, {&c, &c1}};
  // "P" and "PX": no product's entries read as another's whose name it starts.
  batch.index = {{.partition = 0, .customer = &a, .appetence_to = {{"P", 0.2}, {"PX", 0.9}}},
                 {.partition = 1, .customer = &b, .appetence_to = {{"P", 0.7}}},
                 {.partition = 1, .customer = &c, .appetence_to = {{"P", 0.7}, {"Q", 0.1}}}};
  ASSERT_TRUE(store->Commit(kTopic, batch).ok());
  EXPECT_EQ(store->LikeliestBuyers("P", std::nullopt, 10).value(),
            (std::vector<OfferEntry>{{0.7, b, 1}, {0.7, c, 1}, {0.2, a, 0}}));
  EXPECT_EQ(store->LikeliestBuyers("PX", std::nullopt, 10).value(),
            (std::vector<OfferEntry>{{0.9, a, 0}}));
  EXPECT_TRUE(store->LikeliestBuyers("R", std::nullopt, 10).value().empty());
  // Paged: after an entry, the next ones.
  EXPECT_EQ(store->LikeliestBuyers("P", OfferEntry{0.7, b, 1}, 1).value(),
            (std::vector<OfferEntry>{{0.7, c, 1}}));

  // a's appetence for P moves up, PX stays, Q comes; b's P goes.
  StateBatch moved;
  moved.index = {{.partition = 0,
                  .customer = &a,
                  .appetence_from = {{"P", 0.2}, {"PX", 0.9}},
                  .appetence_to = {{"P", 0.8}, {"PX", 0.9}, {"Q", 0.3}}},
                 {.partition = 1, .customer = &b, .appetence_from = {{"P", 0.7}}}};
  ASSERT_TRUE(store->Commit(kTopic, moved).ok());
  EXPECT_EQ(store->LikeliestBuyers("P", std::nullopt, 10).value(),
            (std::vector<OfferEntry>{{0.8, a, 0}, {0.7, c, 1}}));
  EXPECT_EQ(store->LikeliestBuyers("PX", std::nullopt, 10).value(),
            (std::vector<OfferEntry>{{0.9, a, 0}}));
  EXPECT_EQ(store->LikeliestBuyers("Q", std::nullopt, 10).value(),
            (std::vector<OfferEntry>{{0.3, a, 0}, {0.1, c, 1}}));

  ASSERT_TRUE(store->DropPartition(kTopic, 1).ok());
  EXPECT_EQ(store->LikeliestBuyers("P", std::nullopt, 10).value(),
            (std::vector<OfferEntry>{{0.8, a, 0}}));
  EXPECT_EQ(store->LikeliestBuyers("Q", std::nullopt, 10).value(),
            (std::vector<OfferEntry>{{0.3, a, 0}}));
}

Touchpoint TouchpointOf(const CustomerId& customer, int n) {
  Touchpoint tp;
  tp.event_id = customer.value() + "-e" + std::to_string(n);
  tp.customer_id = customer;
  tp.occurred_at = FromMicros(1'000'000LL * n);
  tp.channel = Channel::kWeb;
  tp.type = TouchpointType::kPurchase;
  tp.amount = n;
  tp.product = "p" + std::to_string(n);
  tp.satisfaction = n % 11;
  tp.attributes = {{"note", "not kept"}};
  return tp;
}

// The event ids of `recent`, in order.
std::vector<std::string> EventIds(const std::vector<Touchpoint>& recent) {
  std::vector<std::string> ids;
  for (const Touchpoint& tp : recent) ids.push_back(tp.event_id);
  return ids;
}

// Commits touchpoints `from`..`to` of `customer`, numbered so, under `partition`.
void CommitTouchpoints(RocksDbStateStore& store, std::int32_t partition, const CustomerId& customer,
                       int from, int to) {
  std::vector<Touchpoint> touchpoints;
  for (int n = from; n <= to; ++n) touchpoints.push_back(TouchpointOf(customer, n));
  const CustomerState state = StateOf(partition, static_cast<std::uint64_t>(to));
  StateBatch batch;
  batch.customers = {{&customer, &state}};
  for (std::size_t i = 0; i < touchpoints.size(); ++i) {
    batch.touchpoints.push_back({partition, static_cast<std::uint64_t>(from) + i, &touchpoints[i]});
  }
  ASSERT_TRUE(store.Commit(kTopic, batch).ok());
}

// The recent touchpoints: the latest 20 of each customer, latest first,
// without attributes; those of a customer whose id is a prefix of another's
// kept apart; gone with the customer's erasure and with their partition.
TEST(StateStoreTest, KeepsEachCustomersLatestTouchpointsAndErasesAndDropsThem) {
  TempDir dir;
  auto store = Open(dir);
  ASSERT_NE(store, nullptr);
  const CustomerId a("a"), ab("ab"), other("a");
  CommitTouchpoints(*store, 0, a, 1, 25);   // one batch past the bound
  CommitTouchpoints(*store, 0, a, 26, 27);  // and a later one
  CommitTouchpoints(*store, 0, ab, 1, 3);
  CommitTouchpoints(*store, 1, other, 1, 2);  // the same id under another partition

  const std::vector<Touchpoint> recent = store->RecentTouchpoints(0, a, 27, 20).value();
  std::vector<std::string> want;
  for (int n = 27; n >= 8; --n) want.push_back("a-e" + std::to_string(n));
  EXPECT_EQ(EventIds(recent), want);
  ASSERT_FALSE(recent.empty());
  const Touchpoint& latest = recent.front();
  EXPECT_EQ(latest.customer_id, a);
  EXPECT_EQ(latest.occurred_at, FromMicros(27'000'000));
  EXPECT_EQ(latest.channel, Channel::kWeb);
  EXPECT_EQ(latest.type, TouchpointType::kPurchase);
  EXPECT_EQ(latest.amount, 27);
  EXPECT_EQ(latest.product, "p27");
  EXPECT_EQ(latest.satisfaction, 27 % 11);
  EXPECT_FALSE(latest.consent_granted.has_value());
  EXPECT_TRUE(latest.attributes.empty());
  EXPECT_EQ(EventIds(store->RecentTouchpoints(0, a, 27, 2).value()),
            (std::vector<std::string>{"a-e27", "a-e26"}));
  // The older ones were deleted, not only left out of the window.
  EXPECT_TRUE(store->RecentTouchpoints(0, a, 7, 20).value().empty());
  EXPECT_EQ(EventIds(store->RecentTouchpoints(0, ab, 3, 20).value()),
            (std::vector<std::string>{"ab-e3", "ab-e2", "ab-e1"}));
  EXPECT_EQ(EventIds(store->RecentTouchpoints(1, other, 2, 20).value()),
            (std::vector<std::string>{"a-e2", "a-e1"}));

  StateBatch erase;
  erase.erased = {{0, &a}};
  ASSERT_TRUE(store->Commit(kTopic, erase).ok());
  EXPECT_TRUE(store->RecentTouchpoints(0, a, 27, 20).value().empty());
  EXPECT_EQ(store->RecentTouchpoints(0, ab, 3, 20).value().size(), 3u);
  EXPECT_EQ(store->RecentTouchpoints(1, other, 2, 20).value().size(), 2u);

  ASSERT_TRUE(store->DropPartition(kTopic, 0).ok());
  EXPECT_TRUE(store->RecentTouchpoints(0, ab, 3, 20).value().empty());
  EXPECT_EQ(store->RecentTouchpoints(1, other, 2, 20).value().size(), 2u);
}

// A format 2 data dir (states by customer id alone), half moved already as
// if an earlier open had been interrupted: every state ends up once, under
// its partition, and the format is 3.
TEST(StateStoreTest, AFormat2DataDirIsMovedToPartitionScopedStatesAtOpen) {
  TempDir dir;
  constexpr int kCustomers = 25'000;  // more than one batch of the move
  {
    rocksdb::Options options;
    options.create_if_missing = true;
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(options, (dir.path() / "data").string(), &raw).ok());
    std::unique_ptr<rocksdb::DB> db(raw);
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), "m:format", "2").ok());
    for (int i = 0; i < kCustomers; ++i) {
      const std::string id = "customer-" + std::to_string(i);
      const std::int32_t partition = i % 6;
      const std::string value = EncodeState(StateOf(partition, static_cast<std::uint64_t>(i)));
      if (i % 2 == 0) {
        ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), "c" + id, value).ok());
      } else {  // moved by the interrupted open
        std::string key = "s";
        key.append({0, 0, 0, static_cast<char>(partition)});
        ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), key + id, value).ok());
      }
    }
  }
  std::vector<std::uint64_t> progress;
  auto store = Open(dir, &progress);
  ASSERT_NE(store, nullptr);
  ASSERT_FALSE(progress.empty());
  EXPECT_EQ(progress.back(), static_cast<std::uint64_t>(kCustomers / 2 + kCustomers % 2));
  EXPECT_GT(progress.size(), 1u);  // in batches, each reported
  for (int i = 0; i < kCustomers; i += 997) {
    const CustomerId id("customer-" + std::to_string(i));
    auto state = store->Get(i % 6, id);
    ASSERT_TRUE(state.ok()) << state.status();
    ASSERT_TRUE(state->has_value()) << id.value();
    EXPECT_EQ((*state)->events_applied, static_cast<std::uint64_t>(i));
    EXPECT_FALSE(store->Get((i + 1) % 6, id).value().has_value());
  }
  store.reset();
  // Reopened: format 3, nothing moved again.
  progress.clear();
  store = Open(dir, &progress);
  ASSERT_NE(store, nullptr);
  EXPECT_TRUE(progress.empty());
  EXPECT_EQ(store->Find(CustomerId("customer-0")).value()->events_applied, 0u);
}

// Earlier builds kept a time index beside the states ("t" keys): dropped at
// open, the states kept; a reopen finds nothing to drop.
TEST(StateStoreTest, TheTimeIndexOfEarlierBuildsIsDroppedAtOpen) {
  TempDir dir;
  const CustomerId a("a");
  {
    auto store = Open(dir);
    ASSERT_NE(store, nullptr);
    CustomerState a0 = StateOf(0, 1);
    a0.alert.next_look = FromMicros(5);
    StateBatch batch;
    batch.customers = {{&a, &a0}};
    ASSERT_TRUE(store->Commit(kTopic, batch).ok());
  }
  const std::string path = (dir.path() / "data").string();
  {
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(rocksdb::Options(), path, &raw).ok());
    std::unique_ptr<rocksdb::DB> db(raw);
    std::string key = "t";
    key.append({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5});
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), key + "a", "").ok());
  }
  auto store = Open(dir);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(NextLooks(*store, 0), (std::map<CustomerId, Timestamp>{{a, FromMicros(5)}}));
  store.reset();
  rocksdb::DB* raw = nullptr;
  ASSERT_TRUE(rocksdb::DB::Open(rocksdb::Options(), path, &raw).ok());
  std::unique_ptr<rocksdb::DB> db(raw);
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions()));
  it->Seek("t");
  EXPECT_FALSE(it->Valid() && it->key().starts_with("t"));
}

}  // namespace
}  // namespace crm
