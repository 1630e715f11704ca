#include "tools/score_format.h"

#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

namespace crm {
namespace {

TEST(ScoreFormatTest, AProspectsTableSaysSoAndListsAppetenceInProductOrder) {
  v1::CustomerScores s;
  s.set_customer_id("p-1");
  s.mutable_rfm()->set_recency_days(-1);
  (*s.mutable_appetence())["SAVINGS"] = 0.25;
  (*s.mutable_appetence())["CARD"] = 0.5;
  const std::string table = ScoresTable(s);
  EXPECT_NE(table.find("recency never bought"), std::string::npos) << table;
  EXPECT_NE(table.find("segment             -\n"), std::string::npos) << table;
  EXPECT_NE(table.find("preferred channel   -\n"), std::string::npos) << table;
  EXPECT_NE(table.find("  (no reason given)\n"), std::string::npos) << table;
  EXPECT_NE(table.find("appetence\n  CARD     0.500  -\n  SAVINGS  0.250  -\n"), std::string::npos)
      << table;
}

TEST(ScoreFormatTest, ReasonsShowTheirSignedWeightAndAppetenceItsStrongestReason) {
  v1::CustomerScores s;
  s.set_customer_id("c-1");
  s.set_churn(0.8125);
  s.set_preferred_channel(v1::EMAIL);
  v1::Reason* up = s.add_reasons();
  up->set_code("PURCHASE_RECENCY");
  up->set_sentence("no purchase for 60 days, usually every 14");
  up->set_weight(1.5);
  v1::Reason* down = s.add_reasons();
  down->set_code("SATISFACTION");
  down->set_sentence("satisfied");
  down->set_weight(-0.25);
  v1::Appetence* card = s.add_appetence_details();
  card->set_product("CARD");
  card->set_probability(0.4);
  for (double weight : {0.1, -0.9, 0.3}) {  // the strongest towards buying: 0.3
    v1::Reason* r = card->add_reasons();
    r->set_weight(weight);
    r->set_sentence("weight " + std::to_string(weight));
  }
  const std::string table = ScoresTable(s);
  EXPECT_NE(table.find("churn               0.812 over 0 days"), std::string::npos) << table;
  EXPECT_NE(table.find("preferred channel   EMAIL"), std::string::npos) << table;
  EXPECT_NE(table.find("  +1.50  PURCHASE_RECENCY  no purchase for 60 days, usually every 14\n"
                       "  -0.25  SATISFACTION      satisfied\n"),
            std::string::npos)
      << table;
  EXPECT_NE(table.find("  CARD  0.400  weight 0.300000\n"), std::string::npos) << table;
}

TEST(ScoreFormatTest, TheAtRiskTableRanksAndAnAlertFitsOneLine) {
  v1::ListAtRiskCustomersResponse none;
  EXPECT_EQ(AtRiskTable(none), "no customer at risk\n");
  v1::ListAtRiskCustomersResponse response;
  for (const char* id : {"a-long-customer-id", "b"}) {
    v1::CustomerScores* s = response.add_customers();
    s->set_customer_id(id);
    s->set_churn(0.9);
    s->set_segment("A");
    s->set_value_at_risk(id[0] == 'b' ? 12.5 : 250);
    v1::Reason* against = s->add_reasons();  // weighs against churn: not a why
    against->set_sentence("bought yesterday");
    against->set_weight(-1);
  }
  EXPECT_EQ(AtRiskTable(response),
            "#  customer            churn  value at risk  segment  quadrant  stage  why\n"
            "1  a-long-customer-id  0.900  250.00         A        -         -      -\n"
            "2  b                   0.900  12.50          A        -         -      -\n");

  v1::ChurnAlert alert;
  alert.set_alert_id("x-1");
  alert.set_customer_id("c");
  alert.mutable_raised_at()->set_seconds(1'735'689'600);
  alert.set_previous_churn(0.69);
  alert.set_churn(0.71);
  alert.set_recommended_action("WIN_BACK");
  alert.set_recommended_channel(v1::SMS);
  alert.set_segment("B");
  alert.set_for_marketing(true);
  EXPECT_EQ(AlertLine(alert),
            "2025-01-01T00:00:00Z  x-1  c  churn 0.690 -> 0.710  WIN_BACK via SMS  segment B  -");
  v1::ChurnAlert cleared = alert;
  cleared.set_transition(v1::ALERT_TRANSITION_CLEARED);
  cleared.set_cleared_reason("PURCHASED");
  EXPECT_EQ(AlertLine(cleared),
            "2025-01-01T00:00:00Z  x-1  c  CLEARED (PURCHASED)  churn 0.690 -> 0.710  WIN_BACK via "
            "SMS  segment B  -");
  v1::ChurnAlert held = alert;
  held.set_for_marketing(false);
  held.set_control(true);
  held.set_not_for_marketing_reason("CONTROL_GROUP");
  EXPECT_EQ(AlertLine(held),
            "2025-01-01T00:00:00Z  x-1  c  churn 0.690 -> 0.710  WIN_BACK via SMS  segment B  "
            "(control group: no proactive contact)  -");
  held.set_control(false);
  held.set_not_for_marketing_reason("CONTACT_PRESSURE");
  EXPECT_EQ(AlertLine(held),
            "2025-01-01T00:00:00Z  x-1  c  churn 0.690 -> 0.710  WIN_BACK via SMS  segment B  "
            "(agents only: CONTACT_PRESSURE)  -");
  const std::string json = ToJson(alert, /*one_line=*/true);
  EXPECT_EQ(json.find('\n'), std::string::npos);
  v1::ChurnAlert back;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json, &back).ok()) << json;
  EXPECT_EQ(back.SerializeAsString(), alert.SerializeAsString());
}

TEST(ScoreFormatTest, TheFreshnessLineSaysWhoAnsweredAndHowFarBehind) {
  v1::Freshness f;
  f.set_served_by("crm-scored-1");
  f.set_forwarded(true);
  f.set_partition(4);
  f.set_partition_count(6);
  f.set_lag(12);
  f.set_population_partitions(6);
  f.mutable_updated_at()->set_seconds(1'735'689'600);
  EXPECT_EQ(FreshnessLine(f),
            "answered by crm-scored-1 (forwarded), partition 4 of 6, 12 touchpoints behind, up to "
            "date at 2025-01-01T00:00:00Z\n");
  f.set_population_partitions(4);
  f.set_lag(-1);
  f.clear_updated_at();
  f.set_forwarded(false);
  EXPECT_EQ(FreshnessLine(f),
            "answered by crm-scored-1, partition 4 of 6, lag unknown; ranked against 4 "
            "partitions only\n");
  v1::CustomerScores s;
  s.set_customer_id("c1");
  *s.mutable_freshness() = f;
  EXPECT_NE(ScoresTable(s).find("answered by crm-scored-1"), std::string::npos);
}

}  // namespace
}  // namespace crm
