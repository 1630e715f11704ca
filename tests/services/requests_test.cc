#include "services/grpc/requests.h"

#include <gtest/gtest.h>

#include "services/grpc/grpc_status.h"

namespace crm {
namespace {

google::protobuf::Timestamp Seconds(std::int64_t seconds, std::int32_t nanos = 0) {
  google::protobuf::Timestamp time;
  time.set_seconds(seconds);
  time.set_nanos(nanos);
  return time;
}

TEST(RequestsTest, Utf8IsCheckedStrictly) {
  EXPECT_TRUE(IsUtf8(""));
  EXPECT_TRUE(IsUtf8("c-42"));
  EXPECT_TRUE(IsUtf8("Zoë 東京 \xF0\x9F\x98\x80"));
  EXPECT_FALSE(IsUtf8("\xff"));
  EXPECT_FALSE(IsUtf8("ab\xC3"));               // cut in the middle of a character
  EXPECT_FALSE(IsUtf8("\xC0\xAF"));             // overlong '/'
  EXPECT_FALSE(IsUtf8("\xE0\x80\xAF"));         // overlong, 3 bytes
  EXPECT_FALSE(IsUtf8("\xED\xA0\x80"));         // a surrogate
  EXPECT_FALSE(IsUtf8("\xF4\x90\x80\x80"));     // above U+10FFFF
  EXPECT_FALSE(IsUtf8(std::string("a\x80z")));  // a lone continuation byte
}

TEST(RequestsTest, QuotedIsShortPrintableAndSaysItWasCut) {
  EXPECT_EQ(Quoted("c1"), "\"c1\"");
  EXPECT_EQ(Quoted("a\nb\x1b[31m\"\\"), "\"a\\nb\\x1b[31m\\\"\\\\\"");
  EXPECT_EQ(Quoted("\xff\xfe"), "\"\\xff\\xfe\"");
  const std::string quoted = Quoted(std::string(100'000, 'x'));
  EXPECT_LT(quoted.size(), 100u);
  EXPECT_NE(quoted.find("(100000 bytes)"), std::string::npos) << quoted;
  // Never cut inside a character.
  EXPECT_TRUE(IsUtf8(Quoted(std::string(40, 'a') + "東京東京東京", 48)));
}

// Found by request_fuzzer: C1 controls (U+009B is a terminal's CSI, U+0085 a
// line break), the line separators and the bidi controls passed through
// Quoted and BoundedStatus as they came.
TEST(RequestsTest, QuotedEscapesWhatATerminalActsOn) {
  EXPECT_EQ(Quoted("a\xc2\x9b[2Jb"), "\"a\\u009b[2Jb\"");
  EXPECT_EQ(Quoted("\xc2\x85\xe2\x80\xa8\xe2\x80\xa9"), "\"\\u0085\\u2028\\u2029\"");
  EXPECT_EQ(Quoted("evil\xe2\x80\xaetxt.exe"), "\"evil\\u202etxt.exe\"");
  EXPECT_EQ(Quoted("Zoë 東京"), "\"Zoë 東京\"");  // printable characters are kept
  EXPECT_TRUE(IsPrintable("Zoë 東京 \xF0\x9F\x98\x80"));
  for (const char* bad : {"a\n", "\x7f", "\xc2\x9b", "\xe2\x80\xa8", "\xe2\x81\xa6", "\xff"}) {
    EXPECT_FALSE(IsPrintable(bad)) << Quoted(bad);
  }
  const grpc::Status status =
      BoundedStatus({grpc::StatusCode::INTERNAL, "x\xc2\x85y\xe2\x80\xaez"});
  EXPECT_TRUE(IsPrintable(status.error_message())) << status.error_message();
}

TEST(RequestsTest, CustomerIdsAreBoundedNonEmptyUtf8) {
  EXPECT_TRUE(ValidateCustomerId("c-1").ok());
  EXPECT_TRUE(ValidateCustomerId(std::string(kMaxCustomerIdBytes, 'x')).ok());
  EXPECT_TRUE(ValidateCustomerId("Zoë").ok());
  for (const std::string& bad :
       {std::string(), std::string(kMaxCustomerIdBytes + 1, 'x'), std::string("c\xff")}) {
    const absl::Status status = ValidateCustomerId(bad);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << bad.size();
    EXPECT_LT(status.message().size(), 200u) << status.message();
  }
  const absl::Status long_id = ValidateCustomerId(std::string(100'000, 'x'));
  EXPECT_NE(long_id.message().find("100000 bytes long"), std::string::npos) << long_id;
  EXPECT_NE(ValidateCustomerId("", "customer_ids[3]").message().find("customer_ids[3]"),
            std::string::npos);
}

TEST(RequestsTest, AsOfIsWithinTheYears1900To9999) {
  EXPECT_TRUE(ValidateAsOf(Seconds(0)).ok());
  EXPECT_TRUE(ValidateAsOf(Seconds(-2'208'988'800)).ok());                // 1900-01-01T00:00:00Z
  EXPECT_TRUE(ValidateAsOf(Seconds(253'402'300'799, 999'999'999)).ok());  // 9999-12-31 end
  EXPECT_EQ(ValidateAsOf(Seconds(-2'208'988'801)).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateAsOf(Seconds(253'402'300'800)).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateAsOf(Seconds(100'000'000'000'000'000)).code(),
            absl::StatusCode::kInvalidArgument);  // 1e17 s: would overflow in micros
  EXPECT_EQ(ValidateAsOf(Seconds(0, -1)).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateAsOf(Seconds(0, 1'000'000'000)).code(), absl::StatusCode::kInvalidArgument);
}

TEST(RequestsTest, EachRequestIsValidatedWhole) {
  v1::GetCustomerScoresRequest get;
  get.set_customer_id("c1");
  EXPECT_TRUE(Validate(get).ok());
  *get.mutable_as_of() = Seconds(100'000'000'000'000'000);
  EXPECT_EQ(Validate(get).code(), absl::StatusCode::kInvalidArgument);

  v1::BatchGetCustomerScoresRequest batch;
  EXPECT_TRUE(Validate(batch).ok());
  batch.add_customer_ids("c1");
  batch.add_customer_ids("c\xff");
  const absl::Status bad_batch = Validate(batch);
  EXPECT_EQ(bad_batch.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad_batch.message().find("customer_ids[1]"), std::string::npos) << bad_batch;
  batch.clear_customer_ids();
  for (int i = 0; i <= kMaxBatchIds; ++i) batch.add_customer_ids("c");
  EXPECT_EQ(Validate(batch).code(), absl::StatusCode::kInvalidArgument);

  v1::GetCustomerStateRequest state;
  EXPECT_EQ(Validate(state).code(), absl::StatusCode::kInvalidArgument);
  v1::EraseCustomerRequest erase;
  erase.set_customer_id(std::string(300, 'x'));
  EXPECT_EQ(Validate(erase).code(), absl::StatusCode::kInvalidArgument);

  v1::ListAtRiskCustomersRequest at_risk;
  for (const char* segment : {"", "A", "B", "C"}) {
    at_risk.set_segment(segment);
    EXPECT_TRUE(Validate(at_risk).ok()) << segment;
  }
  for (const char* segment : {"Q", "a", "AB", " A"}) {
    at_risk.set_segment(segment);
    EXPECT_EQ(Validate(at_risk).code(), absl::StatusCode::kInvalidArgument) << segment;
  }
  at_risk.set_segment("");
  at_risk.set_top_n(kMaxTopN + 1);
  EXPECT_EQ(Validate(at_risk).code(), absl::StatusCode::kInvalidArgument);

  v1::WatchAlertsRequest watch;
  EXPECT_TRUE(Validate(watch).ok());
  watch.set_segment("Q");
  EXPECT_EQ(Validate(watch).code(), absl::StatusCode::kInvalidArgument);
  watch.set_segment("A");
  watch.set_action("WIN_BACK");
  EXPECT_TRUE(Validate(watch).ok());
  watch.set_action("SELL_EVERYTHING");
  EXPECT_EQ(Validate(watch).code(), absl::StatusCode::kInvalidArgument);
  watch.set_action("");
  watch.set_min_churn(1.5);
  EXPECT_EQ(Validate(watch).code(), absl::StatusCode::kInvalidArgument);
}

// ListOfferTargets: the product non-empty, bounded, UTF-8; top_n 1-1000; a
// known segment; a known channel or none.
TEST(RequestsTest, OfferTargetRequestsAreCheckedFieldByField) {
  v1::ListOfferTargetsRequest offers;
  offers.set_product("P");
  offers.set_top_n(10);
  EXPECT_TRUE(Validate(offers).ok());
  const auto refused = [&](const char* field) {
    const absl::Status status = Validate(offers);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(status.message().find(field), std::string::npos) << status;
  };
  offers.set_product("");
  refused("product is empty");
  offers.set_product(std::string(kMaxProductBytes + 1, 'p'));
  refused("product is 257 bytes");
  offers.set_product(std::string(kMaxProductBytes, 'p'));
  EXPECT_TRUE(Validate(offers).ok());
  offers.set_product("P\xff");
  refused("UTF-8");
  offers.set_product("P");
  offers.set_top_n(0);
  refused("top_n");
  offers.set_top_n(kMaxTopN + 1);
  refused("top_n");
  offers.set_top_n(kMaxTopN);
  EXPECT_TRUE(Validate(offers).ok());
  offers.set_segment("Q");
  refused("segment");
  offers.set_segment("B");
  EXPECT_TRUE(Validate(offers).ok());
  offers.set_channel(static_cast<v1::Channel>(42));
  refused("channel");
  offers.set_channel(v1::EMAIL);
  EXPECT_TRUE(Validate(offers).ok());
  offers.set_channel(v1::CHANNEL_UNSPECIFIED);  // not given: any customer
  offers.set_include_owners(true);
  EXPECT_TRUE(Validate(offers).ok());
  offers.set_campaign_id("SPRING");
  EXPECT_TRUE(Validate(offers).ok());
  offers.set_campaign_id(std::string(kMaxCampaignIdBytes + 1, 'c'));
  refused("campaign_id");
}

TEST(RequestsTest, OutcomeRequestsTakeAPeriodOfRaisingAnActionAndASegment) {
  v1::GetAlertOutcomesRequest outcomes;
  EXPECT_TRUE(Validate(outcomes).ok());  // everything raised
  const auto refused = [&](const char* field) {
    const absl::Status status = Validate(outcomes);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(status.message().find(field), std::string::npos) << status;
  };
  outcomes.mutable_since()->set_seconds(-2'208'988'801);  // before 1900
  refused("since (");
  outcomes.mutable_since()->set_seconds(100);
  outcomes.mutable_until()->set_nanos(-1);
  refused("until.nanos");
  outcomes.mutable_until()->set_nanos(0);
  outcomes.mutable_until()->set_seconds(100);
  refused("since must be before until");  // an empty period is a mistake
  outcomes.mutable_until()->set_seconds(101);
  EXPECT_TRUE(Validate(outcomes).ok());
  outcomes.set_action("WIN_BACK");
  outcomes.set_segment("A");
  EXPECT_TRUE(Validate(outcomes).ok());
  outcomes.set_action("BRIBE");
  refused("action");
  outcomes.set_action("");
  outcomes.set_segment("Z");
  refused("segment");
  outcomes.set_segment("A");
  outcomes.set_campaign_id("SPRING");
  refused("do not apply");  // a campaign's outcomes are not by segment
  outcomes.set_segment("");
  EXPECT_TRUE(Validate(outcomes).ok());
  outcomes.set_campaign_id(std::string(kMaxCampaignIdBytes + 1, 'c'));
  refused("campaign_id is 257 bytes");
  outcomes.set_campaign_id("\xff");
  refused("UTF-8");
}

TEST(GrpcStatusTest, EveryAbslCodeMapsToTheGrpcCodeOfTheSameName) {
  // The canonical codes share their numbers: each maps to its own.
  for (int code = 0; code <= 16; ++code) {
    const absl::Status status(static_cast<absl::StatusCode>(code), code == 0 ? "" : "why");
    EXPECT_EQ(static_cast<int>(ToGrpc(status).error_code()), code) << status;
  }
  EXPECT_EQ(ToGrpc(absl::NotFoundError("x")).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(ToGrpc(absl::InvalidArgumentError("x")).error_message(), "x");
}

TEST(GrpcStatusTest, MessagesAreBoundedToOnePrintableLine) {
  const grpc::Status big = ToGrpc(absl::InternalError(std::string(100'000, 'y')));
  EXPECT_EQ(big.error_code(), grpc::StatusCode::INTERNAL);
  EXPECT_LE(big.error_message().size(), kMaxStatusMessageBytes);
  const grpc::Status lines = BoundedStatus({grpc::StatusCode::UNAVAILABLE, "a\nb\x1b"});
  EXPECT_EQ(lines.error_message().find('\n'), std::string::npos);
  EXPECT_EQ(lines.error_message().find('\x1b'), std::string::npos);
  EXPECT_EQ(lines.error_code(), grpc::StatusCode::UNAVAILABLE);
}

// Found by request_fuzzer: a long message of control bytes was quoted 960
// bytes deep, each byte escaped to 4, and went out at nearly 4 KiB.
TEST(GrpcStatusTest, EscapedMessagesStayWithinTheBound) {
  for (const std::string& text :
       {std::string(1100, '\x01'), std::string(300, '\x1b'), std::string(2000, '\xff'),
        "\n" + std::string(5000, 'y'), std::string(1000, '\x1b') + std::string(1000, 'z')}) {
    const grpc::Status status = BoundedStatus({grpc::StatusCode::INTERNAL, text});
    EXPECT_LE(status.error_message().size(), kMaxStatusMessageBytes) << text.size();
    EXPECT_GT(status.error_message().size(), kMaxStatusMessageBytes - 16) << text.size();
    EXPECT_TRUE(IsPrintable(status.error_message()));
    EXPECT_NE(status.error_message().find("(" + std::to_string(text.size()) + " bytes)"),
              std::string::npos)
        << status.error_message();
    EXPECT_LE(ToGrpc(absl::InternalError(text)).error_message().size(), kMaxStatusMessageBytes);
  }
}

}  // namespace
}  // namespace crm
