#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "core/uplift.h"
#include "tests/core/ingest_fixture.h"

// The looks (LookScheduler, through IngestProcessor): alerts raised and cleared, the time
// index, the planning threads.

namespace crm {
namespace ingest_test {
namespace {

TEST_F(IngestAlertsTest, ASilentSteadyBuyerIsAlertedOnceWithNoEventOfTheirOwn) {
  IngestProcessor processor = Started(&store_);
  std::int64_t offset = 0;
  auto first = processor.Process(SteadyBuyer("steady", offset));
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(first->alerts.empty());  // right after a purchase: not at risk
  const CustomerState stored = *store_.Find(CustomerId("steady")).value();
  ASSERT_TRUE(stored.alert.next_look);
  const Timestamp next = *stored.alert.next_look;
  EXPECT_GT(next, Day(266));
  // The time index holds the look, under the customer's partition.
  EXPECT_EQ(
      store_.due(),
      (std::map<std::int32_t, std::set<DueEntry>>{{0, {DueEntry{next, CustomerId("steady")}}}}));
  // The wall clock's scheduler does nothing on the event clock.
  auto idle = processor.TakeDueLooks(100);
  ASSERT_TRUE(idle.ok());
  EXPECT_EQ(idle->looks_taken, 0u);

  // Someone else's touchpoints on the same partition move its time on, past
  // looks (churn rising) and then past the raise threshold.
  std::vector<InputRecord> ticker;
  for (int day = 267; day <= 500; day += 3) {
    ticker.push_back(
        Record(0, offset++, For("other", Type::kContact, "o" + std::to_string(day), day)));
  }
  const std::size_t looks_before = probe_.looks_taken;
  auto moved = processor.Process(ticker);
  ASSERT_TRUE(moved.ok()) << moved.status();
  EXPECT_GE(moved->looks_taken, 2u);  // looks as churn moved, then the crossing
  ASSERT_EQ(moved->alerts.size(), 1u);
  const AlertEvent& alert = moved->alerts.front();
  EXPECT_EQ(alert.customer_id, CustomerId("steady"));
  EXPECT_EQ(alert.outcome.transition, AlertTransition::kRaised);
  EXPECT_EQ(alert.outcome.alert_id, AlertId(CustomerId("steady"), 1));
  EXPECT_GE(alert.churn, policy_.defaults.raise);
  EXPECT_LT(alert.outcome.previous_churn, policy_.defaults.raise);
  EXPECT_FALSE(alert.reasons.empty());
  EXPECT_EQ(alert.channel, Channel::kUnspecified);  // never consented: not for marketing
  // Raised as of the moment it was due, which the partition's time passed.
  const CustomerState alerted = *store_.Find(CustomerId("steady")).value();
  EXPECT_TRUE(alerted.alert.open);
  EXPECT_EQ(alerted.alert.raised_at, alert.at);
  EXPECT_GT(alert.at, Day(266 + 14));
  EXPECT_LE(alert.at, Day(500));
  EXPECT_EQ(probe_.alerts_raised,
            std::vector<std::string>{std::string(RecommendedActionName(alert.action)) + "/" +
                                     std::string(SegmentName(alert.segment))});
  EXPECT_TRUE(probe_.alerts_cleared.empty());
  EXPECT_EQ(probe_.looks_taken - looks_before, moved->looks_taken);
  // Every look's churn went to the probe: one per purchase and the due ones
  // between them, then the due ones the ticker passed (a prospect's
  // touchpoints take none), the crossing's among them.
  ASSERT_EQ(probe_.looked.size(), 20 + first->looks_taken + moved->looks_taken);
  EXPECT_NE(std::find(probe_.looked.begin(), probe_.looked.end(), alert.churn),
            probe_.looked.end());
  EXPECT_EQ(probe_.open_alerts, (std::map<std::int32_t, std::uint64_t>{{0, 1}}));
  EXPECT_EQ(store_.partitions().at({kTopic, 0}).open_alerts, 1u);
  EXPECT_EQ(store_.partitions().at({kTopic, 0}).watermark, Day(498));  // the last ticker's
  // The other customer is a prospect: never alerted, never scheduled, never ranked.
  EXPECT_EQ(store_.Find(CustomerId("other")).value()->alert, AlertState{});
  EXPECT_EQ(store_.risk(),
            (std::vector<RiskEntry>{{*alerted.alert.indexed_churn, CustomerId("steady")}}));

  // The raised alert waits in the outbox, committed with the state, until acknowledged.
  auto pending = store_.PendingAlerts(10);
  ASSERT_TRUE(pending.ok());
  ASSERT_EQ(pending->size(), 1u);
  EXPECT_EQ(pending->front().first, 0u);
  EXPECT_EQ(pending->front().second.outcome.alert_id, alert.outcome.alert_id);
  EXPECT_EQ(store_.LastPendingAlert().value(), std::optional<std::uint64_t>(0));
  ASSERT_TRUE(store_.AckAlerts({0}).ok());
  EXPECT_TRUE(store_.PendingAlerts(10).value().empty());
  EXPECT_EQ(store_.LastPendingAlert().value(), std::nullopt);
}

// Processors committing to one store (the ingest's threads, each with its
// partitions) number their alerts from one sequence: no alert of one takes
// the place of another's in the outbox, and a failed commit's numbers stay
// unused.
TEST_F(IngestAlertsTest, ProcessorsOfOneStoreNumberTheirAlertsFromOneSequence) {
  MemoryStateStore inner;
  FaultyStateStore faulty(&inner, /*fail_commit=*/3);  // the first one's alert
  AlertSequence sequence;
  IngestOptions options;
  options.alert_sequence = &sequence;
  IngestProcessor first = Started(&faulty, options);
  IngestProcessor second = Started(&faulty, options);
  std::int64_t offset0 = 0, offset1 = 0;
  ASSERT_TRUE(first.Process(SteadyBuyer("steady0", offset0, /*partition=*/0)).ok());
  ASSERT_TRUE(second.Process(SteadyBuyer("steady1", offset1, /*partition=*/1)).ok());
  const InputRecord ticker0 = Record(0, offset0, For("other0", Type::kContact, "t0", 900));
  EXPECT_FALSE(first.Process({ticker0}).ok());
  auto raised1 = second.Process({Record(1, offset1, For("other1", Type::kContact, "t1", 900))});
  ASSERT_TRUE(raised1.ok()) << raised1.status();
  ASSERT_EQ(raised1->alerts.size(), 1u);
  auto raised0 = first.Process({ticker0});  // read again from the committed offset
  ASSERT_TRUE(raised0.ok()) << raised0.status();
  ASSERT_EQ(raised0->alerts.size(), 1u);

  auto pending = inner.PendingAlerts(10);
  ASSERT_TRUE(pending.ok()) << pending.status();
  ASSERT_EQ(pending->size(), 2u);
  // 0 went to the failed commit; the second processor's alert took 1.
  EXPECT_EQ((*pending)[0].first, 1u);
  EXPECT_EQ((*pending)[0].second.customer_id, CustomerId("steady1"));
  EXPECT_EQ((*pending)[1].first, 2u);
  EXPECT_EQ((*pending)[1].second.customer_id, CustomerId("steady0"));

  // A processor loaded later goes on after the outbox's last number.
  AlertSequence restarted;
  options.alert_sequence = &restarted;
  IngestProcessor third = Started(&inner, options);
  EXPECT_EQ(restarted.Take(), 3u);
}

TEST_F(IngestAlertsTest, AnotherPartitionsTimeDoesNotMoveThisOnesLooks) {
  IngestProcessor processor = Started(&store_);
  std::int64_t offset = 0;
  ASSERT_TRUE(processor.Process(SteadyBuyer("steady", offset, /*partition=*/0)).ok());
  auto other = processor.Process({Record(1, 0, For("other", Type::kContact, "o1", 900))});
  ASSERT_TRUE(other.ok());
  EXPECT_TRUE(other->alerts.empty());
  EXPECT_EQ(other->looks_taken, 0u);
  // Partition 0's own time does.
  auto own = processor.Process({Record(0, offset, For("other0", Type::kContact, "p1", 900))});
  ASSERT_TRUE(own.ok());
  EXPECT_EQ(own->alerts.size(), 1u);
}

TEST_F(IngestAlertsTest, AFailedCommitRaisesNothingAndTheReplayRaisesTheSameAlertOnce) {
  MemoryStateStore inner;
  FaultyStateStore faulty(&inner, /*fail_commit=*/2);  // the commit that raises it
  IngestProcessor processor = Started(&faulty);
  std::int64_t offset = 0;
  ASSERT_TRUE(processor.Process(SteadyBuyer("steady", offset)).ok());
  const std::vector<InputRecord> ticker = {
      Record(0, offset, For("other", Type::kContact, "o1", 900))};
  EXPECT_FALSE(processor.Process(ticker).ok());
  EXPECT_FALSE(inner.Find(CustomerId("steady")).value()->alert.open);
  EXPECT_TRUE(inner.PendingAlerts(10).value().empty());

  // A fresh processor on the committed store (as after a crash) replays the
  // record from the committed offset and raises the same alert, once.
  ASSERT_EQ(inner.GetOffset(kTopic, 0).value(), std::optional<std::int64_t>(offset));
  IngestProcessor restarted = Started(&inner);
  auto replayed = restarted.Process(ticker);
  ASSERT_TRUE(replayed.ok()) << replayed.status();
  ASSERT_EQ(replayed->alerts.size(), 1u);
  EXPECT_EQ(replayed->alerts.front().outcome.alert_id, AlertId(CustomerId("steady"), 1));
  auto pending = inner.PendingAlerts(10);
  ASSERT_TRUE(pending.ok());
  ASSERT_EQ(pending->size(), 1u);
  EXPECT_EQ(pending->front().second.outcome.alert_id, AlertId(CustomerId("steady"), 1));
}

// A satisfied survey answer, 10/10 (without one, satisfaction is missing and
// weighs as the model's mean).
Touchpoint SatisfiedSurvey(const std::string& customer, double day) {
  Touchpoint survey = For(customer, Type::kSurvey, customer + "-survey", day);
  survey.satisfaction = 10;
  return survey;
}

// A silent steady buyer who said they were satisfied: their churn crosses 0.7
// around day 325; a contact on day 330 brings it from about 0.78 down to 0.56,
// and silence raises it above 0.7 again by day 336: it hovers around the raise
// threshold.
TEST_F(IngestAlertsTest, HoveringAroundTheThresholdRaisesOnceUntilItClears) {
  const auto raised_and_cleared = [&](double clear) {
    MemoryStateStore store;
    policy_.defaults.clear = clear;
    policy_.defaults.cooldown = Micros(0);
    IngestProcessor processor = Started(&store);
    std::int64_t offset = 0;
    std::vector<InputRecord> records = SteadyBuyer("steady", offset);
    records.push_back(Record(0, offset++, SatisfiedSurvey("steady", 266)));
    for (int day = 267; day <= 420; ++day) {  // time moves on, one day at a time
      records.push_back(
          Record(0, offset++, For("other", Type::kContact, "o" + std::to_string(day), day)));
      if (day == 330)
        records.push_back(Record(0, offset++, For("steady", Type::kContact, "c", day)));
    }
    records.push_back(Record(0, offset++, For("steady", Type::kPurchase, "back", 421)));
    auto result = processor.Process(records);
    EXPECT_TRUE(result.ok()) << result.status();
    std::pair<int, int> counts;
    for (const AlertEvent& alert : result->alerts) {
      (alert.outcome.transition == AlertTransition::kRaised ? counts.first : counts.second)++;
    }
    return counts;
  };
  // With the clear threshold above the dip, the contact clears the alert and
  // silence raises another: the trajectory does hover.
  EXPECT_EQ(raised_and_cleared(0.6), std::make_pair(2, 2));
  // Below it (the default 0.5), one alert, cleared once the customer buys again.
  EXPECT_EQ(raised_and_cleared(0.5), std::make_pair(1, 1));
}

// Each clear goes to the outbox like a raise, in the same commit, after its
// raise and under its alert id, saying why: the contact of day 330 brings
// churn below a clear threshold of 0.6 with no purchase (SCORE_FELL); the
// purchase of day 421 clears the second alert (PURCHASED).
TEST_F(IngestAlertsTest, AClearGoesToTheOutboxAfterItsRaiseSayingWhy) {
  policy_.defaults.clear = 0.6;
  policy_.defaults.cooldown = Micros(0);
  IngestProcessor processor = Started(&store_);
  std::int64_t offset = 0;
  std::vector<InputRecord> records = SteadyBuyer("steady", offset);
  records.push_back(Record(0, offset++, SatisfiedSurvey("steady", 266)));
  for (int day = 267; day <= 420; ++day) {
    records.push_back(
        Record(0, offset++, For("other", Type::kContact, "o" + std::to_string(day), day)));
    if (day == 330) records.push_back(Record(0, offset++, For("steady", Type::kContact, "c", day)));
  }
  records.push_back(Record(0, offset++, For("steady", Type::kPurchase, "back", 421)));
  auto result = processor.Process(records);
  ASSERT_TRUE(result.ok()) << result.status();
  const std::string first = AlertId(CustomerId("steady"), 1);
  const std::string second = AlertId(CustomerId("steady"), 2);
  using Event = std::tuple<AlertTransition, std::string, std::optional<ClearedReason>>;
  const std::vector<Event> want = {{AlertTransition::kRaised, first, std::nullopt},
                                   {AlertTransition::kCleared, first, ClearedReason::kScoreFell},
                                   {AlertTransition::kRaised, second, std::nullopt},
                                   {AlertTransition::kCleared, second, ClearedReason::kPurchased}};
  std::vector<Event> got;
  for (const AlertEvent& alert : result->alerts) {
    got.emplace_back(alert.outcome.transition, alert.outcome.alert_id, alert.cleared_reason);
  }
  EXPECT_EQ(got, want);
  EXPECT_EQ(result->alerts.back().at, Day(421));  // the purchase's look
  EXPECT_LT(result->alerts.back().churn, 0.6);
  // The outbox holds all four, in that order, until acknowledged.
  auto pending = store_.PendingAlerts(10);
  ASSERT_TRUE(pending.ok());
  got.clear();
  for (const auto& [sequence, alert] : *pending) {
    got.emplace_back(alert.outcome.transition, alert.outcome.alert_id, alert.cleared_reason);
  }
  EXPECT_EQ(got, want);
  EXPECT_EQ(probe_.alerts_cleared.size(), 2u);
  EXPECT_EQ(store_.partitions().at({kTopic, 0}).open_alerts, 0u);
}

TEST_F(IngestAlertsTest, AnOptOutIsNeverRecommendedAndAllOutIsNotForMarketing) {
  IngestProcessor processor = Started(&store_);
  std::int64_t offset = 0;
  const auto consent = [&](const std::string& customer, Channel channel, bool granted, double day) {
    Touchpoint tp = MakeTouchpoint(
        Type::kConsent,
        customer + "-consent-" + std::string(ChannelName(channel)) + std::to_string(day), day,
        channel);
    tp.customer_id = CustomerId(customer);
    tp.consent_granted = granted;
    return Record(0, offset++, tp);
  };
  std::vector<InputRecord> records = SteadyBuyer("some", offset);
  std::vector<InputRecord> none = SteadyBuyer("none", offset);
  records.insert(records.end(), none.begin(), none.end());
  for (const std::string customer : {"some", "none"}) {
    records.push_back(consent(customer, Channel::kEmail, true, 10));
    records.push_back(consent(customer, Channel::kSms, true, 10));
    records.push_back(consent(customer, Channel::kEmail, false, 200));  // out
  }
  records.push_back(consent("none", Channel::kSms, false, 201));  // all out
  records.push_back(Record(0, offset++, For("ticker", Type::kContact, "t", 700)));
  auto result = processor.Process(records);
  ASSERT_TRUE(result.ok()) << result.status();
  std::map<std::string, Channel> channel;
  for (const AlertEvent& alert : result->alerts) channel[alert.customer_id.value()] = alert.channel;
  ASSERT_EQ(channel.size(), 2u);
  EXPECT_EQ(channel.at("some"), Channel::kSms);  // e-mail is cheaper, but they opted out
  EXPECT_EQ(channel.at("none"), Channel::kUnspecified);
}

// Alerts otherwise for marketing are held out by alert id, and the clear of
// a held-out alert says so too; a customer contacted every 3 days is over a
// limit of 4 contacts in 30 days whenever their alert is raised (after day
// 280, the first test shows).
TEST_F(IngestAlertsTest, TheControlGroupIsDrawnByAlertIdAndPressureExcludesFirst) {
  policy_.marketing = {.control_share = 0.5, .max_contacts_30d = 4};
  IngestProcessor processor = Started(&store_);
  std::int64_t offset = 0;
  std::vector<InputRecord> records;
  std::vector<std::string> customers;
  for (int i = 0; i < 24; ++i) customers.push_back("c" + std::to_string(i));
  customers.emplace_back("pressed");
  for (const std::string& customer : customers) {
    Touchpoint consent = For(customer, Type::kConsent, customer + "-consent", 0);
    consent.channel = Channel::kEmail;
    records.push_back(Record(0, offset++, consent));
  }
  for (int i = 0; i < 20; ++i) {  // valuable steady buyers: at risk, worth a win-back
    for (const std::string& customer : customers) {
      Touchpoint buy = For(customer, Type::kPurchase, customer + std::to_string(i), 14 * i);
      buy.amount = 400;
      records.push_back(Record(0, offset++, buy));
    }
  }
  for (int day = 267; day <= 600; day += 3) {
    records.push_back(
        Record(0, offset++, For("ticker", Type::kContact, "t" + std::to_string(day), day)));
    Touchpoint contact = For("pressed", Type::kCampaignContact, "k" + std::to_string(day), day);
    contact.campaign_id = "WINTER-26";
    records.push_back(Record(0, offset++, contact));
  }
  for (const std::string& customer : customers) {  // all come back: their alerts clear
    records.push_back(Record(0, offset++, For(customer, Type::kPurchase, customer + "-back", 601)));
  }
  auto result = processor.Process(records);
  ASSERT_TRUE(result.ok()) << result.status();
  std::map<std::string, MarketingExclusion> raised;
  int held_out = 0;
  for (const AlertEvent& alert : result->alerts) {
    const std::string& id = alert.outcome.alert_id;
    SCOPED_TRACE(id);
    ASSERT_NE(alert.action, RecommendedAction::kNone) << "no campaign to hold out of";
    if (alert.outcome.transition == AlertTransition::kRaised) {
      raised[id] = alert.exclusion;
      if (alert.customer_id == CustomerId("pressed")) {
        EXPECT_EQ(alert.exclusion, MarketingExclusion::kContactPressure);
        continue;
      }
      EXPECT_EQ(alert.exclusion, InControlGroup(id, 0.5) ? MarketingExclusion::kControlGroup
                                                         : MarketingExclusion::kNone);
      held_out += alert.exclusion == MarketingExclusion::kControlGroup;
    } else {  // a clear says what its raise said of the control group
      ASSERT_TRUE(raised.contains(id));
      EXPECT_EQ(alert.exclusion == MarketingExclusion::kControlGroup,
                raised.at(id) == MarketingExclusion::kControlGroup);
    }
  }
  EXPECT_EQ(raised.size(), customers.size());
  EXPECT_GT(held_out, 0);
  EXPECT_LT(held_out, static_cast<int>(customers.size()) - 1);
  // The draw is kept with the customer's alert.
  const CustomerState some = *store_.Find(CustomerId("c0")).value();
  EXPECT_EQ(some.alert.control, InControlGroup(AlertId(CustomerId("c0"), 1), 0.5));
  EXPECT_EQ(store_.Find(CustomerId("pressed")).value()->campaign_contacts, 112u);
}

// Each alert of the experiment is followed up in the customer's state, in
// the commit of the touchpoints that make its outcome: the contacts and the
// purchases of its window, late ones included; others are not followed.
TEST_F(IngestAlertsTest, AnAlertsFollowUpCountsTheContactsAndPurchasesOfItsWindow) {
  policy_.marketing = {.control_share = 0.5, .max_contacts_30d = 0};
  IngestProcessor processor = Started(&store_);
  std::int64_t offset = 0;
  std::vector<InputRecord> records;
  Touchpoint consent = For("followed", Type::kConsent, "consent", 0);
  consent.channel = Channel::kEmail;
  records.push_back(Record(0, offset++, consent));
  for (int i = 0; i < 20; ++i) {  // "unreachable" consented to nothing: not for marketing
    for (const std::string customer : {"followed", "unreachable"}) {
      Touchpoint buy = For(customer, Type::kPurchase, customer + std::to_string(i), 14 * i);
      buy.amount = 400;
      records.push_back(Record(0, offset++, buy));
    }
  }
  for (int day = 267; day <= 400; day += 3) {
    records.push_back(
        Record(0, offset++, For("ticker", Type::kContact, "t" + std::to_string(day), day)));
  }
  ASSERT_TRUE(processor.Process(records).ok());
  const CustomerState raised = *store_.Find(CustomerId("followed")).value();
  ASSERT_EQ(raised.alert.follow_ups.size(), 1u);
  const AlertFollowUp& started = raised.alert.follow_ups[0];
  EXPECT_EQ(started.number, 1u);
  EXPECT_EQ(started.raised_at, *raised.alert.raised_at);
  EXPECT_EQ(started.control, InControlGroup(AlertId(CustomerId("followed"), 1), 0.5));
  EXPECT_EQ(started.contacts, 0u);
  EXPECT_FALSE(started.recovered_at);
  const CustomerState unreachable = *store_.Find(CustomerId("unreachable")).value();
  EXPECT_TRUE(unreachable.alert.open);
  EXPECT_TRUE(unreachable.alert.follow_ups.empty());
  // The outcome index holds what the state holds, in the same commit.
  const auto indexed = [&] {
    std::vector<AlertFollowUp> follow_ups;
    for (const auto& [customer, follow_up] : store_.outcomes()) {
      EXPECT_EQ(customer, CustomerId("followed"));
      follow_ups.push_back(follow_up);
    }
    return follow_ups;
  };
  EXPECT_EQ(indexed(), raised.alert.follow_ups);

  // Late touchpoints within the window, and one past it.
  const double raised_day = DaysBetween(Day(0), started.raised_at);
  Touchpoint contact = For("followed", Type::kCampaignContact, "k", raised_day + 1);
  contact.campaign_id = AlertId(CustomerId("followed"), 1);
  Touchpoint back = For("followed", Type::kPurchase, "back", raised_day + 5);
  back.amount = 77;
  Touchpoint again = For("followed", Type::kPurchase, "again", raised_day + 31);
  ASSERT_TRUE(processor
                  .Process({Record(0, offset, contact), Record(0, offset + 1, back),
                            Record(0, offset + 2, back), Record(0, offset + 3, again)})
                  .ok());
  const AlertFollowUp followed = store_.Find(CustomerId("followed")).value()->alert.follow_ups[0];
  EXPECT_EQ(followed.contacts, 1u);
  EXPECT_EQ(followed.recovered_at, back.occurred_at);
  EXPECT_DOUBLE_EQ(followed.revenue, 77);  // the duplicate counted once, the later one not
  EXPECT_EQ(indexed(), std::vector<AlertFollowUp>{followed});
  std::vector<AlertFollowUp> visited;  // a period that ends before the alert: none
  ASSERT_TRUE(store_
                  .ForEachFollowUp(
                      std::nullopt, followed.raised_at, [](std::int32_t) { return true; },
                      [&](const AlertFollowUp& f) { visited.push_back(f); })
                  .ok());
  EXPECT_TRUE(visited.empty());
}

TEST_F(IngestAlertsTest, OnTheWallClockLooksAreTakenAsOfTheirDueTimeUpToNow) {
  IngestProcessor processor = OnTheWallClock(&store_, Day(267));
  std::int64_t offset = 0;
  ASSERT_TRUE(processor.Process(SteadyBuyer("steady", offset)).ok());
  const Timestamp due = *store_.Find(CustomerId("steady")).value()->alert.next_look;
  auto early = processor.TakeDueLooks(100);
  ASSERT_TRUE(early.ok());
  EXPECT_EQ(early->looks_taken, 0u);  // not due yet
  clock_.Set(Day(700));
  auto one = processor.TakeDueLooks(1);  // the budget: one look
  ASSERT_TRUE(one.ok()) << one.status();
  EXPECT_EQ(one->looks_taken, 1u);
  const CustomerState looked = *store_.Find(CustomerId("steady")).value();
  EXPECT_EQ(looked.alert.looked_at, due);  // as of when it was due, not now
  auto rest = processor.TakeDueLooks(1000);
  ASSERT_TRUE(rest.ok());
  EXPECT_GE(rest->looks_taken, 1u);
  ASSERT_EQ(rest->alerts.size(), 1u);
  EXPECT_LT(rest->alerts.front().at, Day(700));
  EXPECT_GT(*store_.Find(CustomerId("steady")).value()->alert.next_look, Day(700));
}

// "b" buys every 10 days but its touchpoints arrive late, behind "a"'s every
// 14 days on the same partition: by the time b's purchase of day 190 comes,
// the partition's time (266) has passed b's silence and alerted them. The late
// purchase is looked at as of b's latest look, not back in time: b stays at
// risk (silent since day 190, usually every 10), and is alerted once.
// The time index is built in memory from the states once, and kept by the
// commits: rounds with nothing due read nothing; a commit that plans a look
// sooner than all the others moves it, and that look is taken when due; a
// processor that knows nothing (a restart) builds it again and takes the
// same looks.
TEST_F(IngestAlertsTest, TheTimeIndexIsBuiltFromTheStatesOnceAndKeptByTheCommits) {
  IngestProcessor processor = OnTheWallClock(&store_, Day(267));
  std::int64_t offset = 0;
  ASSERT_TRUE(processor.Process(SteadyBuyer("steady", offset)).ok());
  const Timestamp steady_due = *store_.Find(CustomerId("steady")).value()->alert.next_look;
  ASSERT_TRUE(processor.TakeDueLooks(100).ok());  // builds the index: not due
  EXPECT_EQ(store_.next_look_scans(), 1);
  for (int i = 0; i < 3; ++i) {
    auto idle = processor.TakeDueLooks(100);
    ASSERT_TRUE(idle.ok());
    EXPECT_EQ(idle->looks_taken, 0u);
  }
  EXPECT_EQ(store_.next_look_scans(), 1);

  // A brisk buyer's next look comes before the steady one's.
  std::vector<InputRecord> brisk;
  for (int i = 0; i < 10; ++i) {
    brisk.push_back(
        Record(0, offset++, For("brisk", Type::kPurchase, "b" + std::to_string(i), 248 + 2 * i)));
  }
  ASSERT_TRUE(processor.Process(brisk).ok());
  const Timestamp brisk_due = *store_.Find(CustomerId("brisk")).value()->alert.next_look;
  ASSERT_LT(brisk_due, steady_due);
  clock_.Set(brisk_due + (steady_due - brisk_due) / 2);
  auto round = processor.TakeDueLooks(100);
  ASSERT_TRUE(round.ok()) << round.status();
  EXPECT_GE(round->looks_taken, 1u);  // brisk's, and those that follow before now
  const CustomerState looked = *store_.Find(CustomerId("brisk")).value();
  EXPECT_GE(looked.alert.looked_at, brisk_due);
  EXPECT_GT(looked.alert.next_look, clock_.Now());
  EXPECT_EQ(store_.Find(CustomerId("steady")).value()->alert.next_look, steady_due);
  EXPECT_EQ(store_.next_look_scans(), 1);  // the commits kept it

  // Past both, from a processor that knows nothing of the index: the same looks.
  IngestProcessor fresh = OnTheWallClock(&store_, steady_due + Days(1));
  ASSERT_TRUE(fresh.SetAssignment({0}).ok());
  auto late = fresh.TakeDueLooks(100);
  ASSERT_TRUE(late.ok()) << late.status();
  EXPECT_GE(late->looks_taken, 1u);
  EXPECT_EQ(store_.next_look_scans(), 2);
  EXPECT_EQ(store_.Find(CustomerId("steady")).value()->alert.looked_at, steady_due);
}

TEST_F(IngestAlertsTest, ALateTouchpointNeverTakesALookBackInTime) {
  IngestProcessor processor = Started(&store_);
  std::int64_t offset = 0;
  std::vector<InputRecord> records;
  for (int i = 0; i < 20; ++i) {
    records.push_back(
        Record(0, offset++, For("a", Type::kPurchase, "a" + std::to_string(i), 14 * i)));
    records.push_back(
        Record(0, offset++, For("b", Type::kPurchase, "b" + std::to_string(i), 10 * i)));
  }
  for (int day = 266; day <= 500; day += 2) {
    records.push_back(
        Record(0, offset++, For("t", Type::kContact, "t" + std::to_string(day), day)));
  }
  auto result = processor.Process(records);
  ASSERT_TRUE(result.ok()) << result.status();
  std::multiset<std::string> raised;
  for (const AlertEvent& alert : result->alerts) {
    EXPECT_EQ(alert.outcome.transition, AlertTransition::kRaised) << alert.customer_id.value();
    raised.insert(alert.outcome.alert_id);
  }
  EXPECT_EQ(raised,
            (std::multiset<std::string>{AlertId(CustomerId("a"), 1), AlertId(CustomerId("b"), 1)}));
}

// The heart of exactly-once alerts: every look, and so every alert, is a
// function of each partition's records alone. The same stream (late events
// and duplicates included) processed in one batch, in random batches with
// small commits, and with crashes (a failed commit, then a fresh processor
// replaying from the committed offsets) leaves the same states, the same
// indexes and the same alerts.
TEST_F(IngestAlertsTest, TheSameStreamGivesTheSameLooksWhateverTheBatchesAndCrashes) {
  clock_.Set(Day(2000));
  std::mt19937 random(20261201);
  // Four customers per partition, two partitions, a year and a half of
  // purchases, contacts, complaints and surveys; one in twenty late by up to
  // 30 days, one in twenty-five sent twice.
  std::map<std::int32_t, std::vector<InputRecord>> by_partition;
  std::map<std::int32_t, std::int64_t> offsets;
  const std::array<Type, 4> types = {Type::kPurchase, Type::kContact, Type::kComplaint,
                                     Type::kSurvey};
  for (int i = 0; i < 600; ++i) {
    const std::int32_t partition = static_cast<std::int32_t>(random() % 2);
    const std::string customer = "c" + std::to_string(partition) + std::to_string(random() % 4);
    double day = i * 0.9;
    if (random() % 20 == 0) day -= static_cast<double>(random() % 30);
    const Type type = random() % 3 == 0 ? Type::kPurchase : types[random() % types.size()];
    InputRecord record = Record(partition, offsets[partition]++,
                                For(customer, type, "e" + std::to_string(i), std::max(0.0, day)));
    by_partition[partition].push_back(record);
    if (random() % 25 == 0) {
      record.offset = offsets[partition]++;
      by_partition[partition].push_back(record);
    }
  }
  // The records from the committed offsets on, interleaved as a consumer may
  // see them: each partition in order, the partitions in random turns.
  const auto interleaved = [&](StateStore& store) {
    std::vector<InputRecord> stream;
    std::map<std::int32_t, std::size_t> next;
    for (auto& [partition, records] : by_partition) {
      const std::optional<std::int64_t> committed = Offset(store, partition);
      while (next[partition] < records.size() && committed &&
             records[next[partition]].offset < *committed) {
        ++next[partition];
      }
    }
    for (bool more = true; more;) {
      more = false;
      const std::int32_t partition = static_cast<std::int32_t>(random() % 2);
      if (next[partition] < by_partition[partition].size()) {
        stream.push_back(by_partition[partition][next[partition]++]);
      }
      for (auto& [p, records] : by_partition) more = more || next[p] < records.size();
    }
    return stream;
  };

  // What a run leaves: states, indexes, the alerts of the outbox.
  struct Outcome {
    std::map<CustomerId, CustomerState> states;
    std::map<std::int32_t, std::set<DueEntry>> due;
    std::vector<RiskEntry> risk;
    std::vector<std::tuple<std::string, std::string, Timestamp, double, RecommendedAction>> alerts;
  };
  const auto outcome_of = [](const MemoryStateStore& store) {
    Outcome o{store.states(), store.due(), store.risk(), {}};
    // The segment is relative to the whole population, which the interleaving
    // of partitions and the commits move; the rest must not depend on them.
    for (auto& [id, state] : o.states) state.alert.last_segment = Segment::kNone;
    for (const auto& [sequence, a] : store.outbox()) {
      o.alerts.emplace_back(a.customer_id.value(), a.outcome.alert_id, a.at, a.churn, a.action);
    }
    std::sort(o.alerts.begin(), o.alerts.end());
    return o;
  };

  MemoryStateStore single;
  {
    IngestProcessor processor = MakeProcessor(&single);
    Enable(processor);
    ASSERT_TRUE(processor.Load().ok());
    ASSERT_TRUE(processor.Process(interleaved(single)).ok());
  }
  const Outcome want = outcome_of(single);
  ASSERT_FALSE(want.alerts.empty());  // the stream exercises alerts at all

  for (int run = 0; run < 6; ++run) {
    SCOPED_TRACE("run " + std::to_string(run));
    MemoryStateStore store;
    IngestOptions options;
    options.max_customers_per_commit = 1 + random() % 4;
    // Schedules of a few looks, built from the states again and again.
    if (run >= 2) options.schedule_entries = 1 + random() % 6;
    int crashes = 0;
    for (;;) {
      // A processor lives until an injected commit failure (a crash).
      FaultyStateStore faulty(&store, run % 2 == 0 ? 1 + static_cast<int>(random() % 200) : 0);
      IngestProcessor processor = MakeProcessor(&faulty, options);
      Enable(processor);
      ASSERT_TRUE(processor.Load().ok());
      // Resume every partition from its committed offset, as the consumer does.
      const std::vector<InputRecord> rest = interleaved(store);
      bool crashed = false;
      for (std::size_t begin = 0; begin < rest.size() && !crashed;) {
        const std::size_t size = 1 + random() % 50;
        std::vector<InputRecord> batch(
            rest.begin() + static_cast<std::ptrdiff_t>(begin),
            rest.begin() + static_cast<std::ptrdiff_t>(std::min(rest.size(), begin + size)));
        crashed = !processor.Process(batch).ok();
        begin += batch.size();
      }
      if (!crashed) break;
      ++crashes;
      ASSERT_LT(crashes, 1000);
    }
    if (run % 2 == 0) {
      EXPECT_GT(crashes, 0);
    }
    const Outcome got = outcome_of(store);
    ASSERT_EQ(got.states.size(), want.states.size());
    for (const auto& [id, state] : want.states) {
      SCOPED_TRACE(id.value());
      ExpectSameState(state, got.states.at(id));
    }
    EXPECT_EQ(got.due, want.due);
    EXPECT_EQ(got.risk, want.risk);
    EXPECT_EQ(got.alerts, want.alerts);
  }
}

// The next looks of a commit are planned on the planning threads: the states,
// indexes and alerts must be those of planning on the consumer's thread alone,
// on the wall clock both when touchpoints come (in commits large enough to
// be shared out) and when due looks are taken, several a round.
TEST_F(IngestAlertsTest, PlanningThreadsLeaveWhatPlanningAloneLeaves) {
  std::mt19937 random(20261202);
  std::vector<InputRecord> records;
  for (int i = 0; i < 3000; ++i) {
    // Each customer on one partition, as the producers' key partitioner puts
    // them (an alert is counted open in its customer's partition).
    const std::uint32_t c = random() % 300;
    const std::string customer = "c" + std::to_string(c);
    const Type type = random() % 2 == 0 ? Type::kPurchase : Type::kContact;
    records.push_back(Record(static_cast<std::int32_t>(c % 3), i,
                             For(customer, type, "e" + std::to_string(i), i * 0.1)));
  }
  const auto run = [&](int threads, std::size_t schedule_entries, MemoryStateStore& store) {
    clock_.Set(Day(300));
    IngestOptions options;
    options.planning_threads = threads;
    options.schedule_entries = schedule_entries;
    IngestProcessor processor = MakeProcessor(&store, options);
    Enable(processor, &clock_);
    ASSERT_TRUE(processor.Load().ok());
    for (std::size_t begin = 0; begin < records.size(); begin += 500) {
      const std::vector<InputRecord> batch(
          records.begin() + static_cast<std::ptrdiff_t>(begin),
          records.begin() + static_cast<std::ptrdiff_t>(std::min(records.size(), begin + 500)));
      ASSERT_TRUE(processor.Process(batch).ok());
    }
    // A year of silence, its looks taken in rounds.
    clock_.Set(Day(700));
    std::size_t looks_taken = 0;
    for (int round = 0; round < 1000; ++round) {
      auto result = processor.TakeDueLooks(50);
      ASSERT_TRUE(result.ok()) << result.status();
      looks_taken += result->looks_taken;
      if (result->looks_taken == 0) break;
    }
    EXPECT_GT(looks_taken, 300u);  // every customer was looked at again, most more than once
  };
  MemoryStateStore alone, shared, small;
  run(0, IngestOptions{}.schedule_entries, alone);
  run(3, IngestOptions{}.schedule_entries, shared);
  // A schedule of 7 looks a partition, built from the states again as each
  // 7 are taken: the same looks, in the same order.
  run(0, 7, small);
  EXPECT_GT(small.next_look_scans(), 20);
  const auto states = alone.states();
  ASSERT_GT(states.size(), 290u);
  EXPECT_EQ(shared.states().size(), states.size());
  for (const auto& [id, state] : states) {
    SCOPED_TRACE(id.value());
    ExpectSameState(state, shared.states().at(id));
  }
  EXPECT_EQ(shared.due(), alone.due());
  EXPECT_EQ(shared.risk(), alone.risk());
  ASSERT_FALSE(alone.outbox().empty());
  EXPECT_EQ(shared.outbox().size(), alone.outbox().size());
  for (const auto& [id, state] : states) {
    SCOPED_TRACE(id.value());
    ExpectSameState(state, small.states().at(id));
  }
  EXPECT_EQ(small.risk(), alone.risk());
  EXPECT_EQ(small.outbox().size(), alone.outbox().size());
}

}  // namespace
}  // namespace ingest_test
}  // namespace crm
