// The JSON the HTTP API writes is protobuf's JSON mapping: the same object as
// protobuf's own printer gives (always_print_primitive_fields), and read back
// by protobuf's parser into the same message.

#include "services/http/json_writer.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/text_format.h>
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "crm/v1/scoring.pb.h"

namespace crm {
namespace {

using google::protobuf::Message;
using google::protobuf::util::MessageDifferencer;

// `json` read as a generic JSON value.
google::protobuf::Value AsValue(const std::string& json) {
  google::protobuf::Value value;
  const auto status = google::protobuf::util::JsonStringToMessage(json, &value);
  EXPECT_TRUE(status.ok()) << status.message() << " in " << json;
  return value;
}

// Checks ours against protobuf's printer and parser for `message`.
void ExpectSameAsProtobuf(const Message& message) {
  const std::string ours = ToJson(message);
  std::string theirs;
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  ASSERT_TRUE(google::protobuf::util::MessageToJsonString(message, &theirs, options).ok());
  std::string difference;
  MessageDifferencer values;
  values.ReportDifferencesToString(&difference);
  EXPECT_TRUE(values.Compare(AsValue(theirs), AsValue(ours)))
      << difference << "\nours:   " << ours << "\ntheirs: " << theirs;
  std::unique_ptr<Message> back(message.New());
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(ours, back.get()).ok()) << ours;
  EXPECT_TRUE(MessageDifferencer::Equivalent(message, *back)) << ours;
}

template <typename M>
M FromText(const std::string& text) {
  M message;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &message)) << text;
  return message;
}

TEST(JsonWriterTest, ScoresAsProtobufPrintsThemZeroValuesIncludedUnsetOptionalsLeftOut) {
  const auto scores = FromText<v1::CustomerScores>(R"pb(
    customer_id: "vip \"quoted\" \\ back\nslash\t\x01 é 中 \xe2\x80\xa8"
    as_of { seconds: 1748736000 nanos: 5000000 }
    churn: 0
    p_alive: 0.987654321
    appetence { key: "GOLD" value: 0.25 }
    appetence { key: "a\"b" value: 1e-300 }
    rfm { recency_days: -1 frequency: 18446744073709551615 monetary: 400 r_score: 3 }
    clv: 1858.6794982951742
    segment: "A"
    preferred_channel: PHONE
    reasons { code: "COMPLAINTS_RECENT" sentence: "3 complaints" weight: -0.5 }
    reasons { code: "X" weight: 2 }
    events_applied: 9007199254740993
    value_at_risk: 1e21
    contactable_channels: [ EMAIL, SMS ]
    freshness {
      served_by: "127.0.0.1:1"
      lag: -1
      updated_at { seconds: 0 }
    }
  )pb");
  ExpectSameAsProtobuf(scores);
  const std::string json = ToJson(scores);
  EXPECT_NE(json.find(R"("churn":0)"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("eventsApplied":"9007199254740993")"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("contactableChannels":["EMAIL","SMS"])"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("complaints90d":0)"), std::string::npos) << json;
  EXPECT_NE(json.find(R"(\u2028)"), std::string::npos) << json;
  EXPECT_EQ(json.find("latestSatisfaction"), std::string::npos) << json;

  v1::CustomerScores prospect;
  prospect.set_customer_id("p");
  ExpectSameAsProtobuf(prospect);
  EXPECT_EQ(ToJson(prospect).find(R"("churn":)"), std::string::npos);
  EXPECT_EQ(ToJson(prospect).find(R"("rfm":)"), std::string::npos);  // an unset message
}

TEST(JsonWriterTest, EveryAnswerOfTheApiReadsBackAsProtobufWroteIt) {
  ExpectSameAsProtobuf(FromText<v1::ChurnAlert>(R"pb(
    alert_id: "a-1"
    customer_id: "c"
    raised_at { seconds: 1 nanos: 1 }
    churn: 0.9
    recommended_action: "WIN_BACK"
    recommended_channel: EMAIL
    transition: ALERT_TRANSITION_CLEARED
    cleared_reason: "PURCHASED"
    for_marketing: true
  )pb"));
  ExpectSameAsProtobuf(FromText<v1::CustomerState>(R"pb(
    customer_id: "c"
    events_applied: 3
    recent_satisfaction: [ 7, 0, 10 ]
    channels { channel: PHONE contacts: 2 consent: false }
    channels { channel: EMAIL contacts: 1 }
    products { product: "GOLD" purchases: 1 }
    profile { key: "age" value: "42" }
  )pb"));
  ExpectSameAsProtobuf(FromText<v1::ListAtRiskCustomersResponse>(R"pb(
    customers { customer_id: "a" churn: 0.8 }
    customers { customer_id: "b" }
    partitions: [ 0, 1, 2 ]
    instances: [ "x" ]
    partial: true
    partial_reason: "one is away"
  )pb"));
  ExpectSameAsProtobuf(FromText<v1::BatchGetCustomerScoresResponse>(R"pb(
    not_found: [ "nobody" ]
  )pb"));
  ExpectSameAsProtobuf(v1::EraseCustomerResponse());
  ExpectSameAsProtobuf(v1::ListAtRiskCustomersResponse());
}

TEST(JsonWriterTest, NumbersOutsideJsonAreStringsAsProtobufWritesThem) {
  v1::CustomerScores scores;
  scores.set_clv(std::numeric_limits<double>::quiet_NaN());
  scores.set_value_at_risk(std::numeric_limits<double>::infinity());
  scores.set_lifetime_value(-std::numeric_limits<double>::infinity());
  scores.set_cost_to_serve(-0.0);
  scores.set_p_alive(std::numeric_limits<double>::denorm_min());
  const std::string json = ToJson(scores);
  EXPECT_NE(json.find(R"("clv":"NaN")"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("valueAtRisk":"Infinity")"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("lifetimeValue":"-Infinity")"), std::string::npos) << json;
  v1::CustomerScores back;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json, &back).ok()) << json;
  EXPECT_TRUE(std::isnan(back.clv()));
  EXPECT_EQ(back.p_alive(), std::numeric_limits<double>::denorm_min());
}

}  // namespace
}  // namespace crm
