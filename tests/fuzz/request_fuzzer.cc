// libFuzzer target over the gRPC edge: what a caller's request reaches before
// any work is done (Validate, services/grpc/requests.h), the status it is
// answered with (ToGrpc, BoundedStatus, services/grpc/grpc_status.h), and,
// for a request that passes, what the service then does with its as_of: the
// conversion to a Timestamp, scoring at that moment and the answer's encoding.
//
// An input is a selector byte and a request. The selector's low 3 bits pick
// the request type (0 GetCustomerScores, 1 BatchGetCustomerScores,
// 2 GetCustomerState, 3 ListAtRiskCustomers, 4 WatchAlerts, 5 EraseCustomer,
// 6 and 7: a status, see below). Without bit 7 the rest is the request in
// protobuf binary, as gRPC receives it. With bit 7 the rest is a 2-byte
// little-endian length, that many bytes of protobuf binary, and raw bytes that
// replace one string field of the parsed request (the id, or a filter: bit 6
// picks WatchAlerts' action over its segment; bits 3-5 which of a batch's ids).
// With kind 3, bit 6 picks ListOfferTargets over ListAtRiskCustomers (its raw
// bytes replace the product):
// protobuf refuses a string field that is not UTF-8, the HTTP edge and a
// forwarding peer need not. A status input is a code byte and a message: the
// status of an absl error (or a peer's answer) that the edge passes on.
//
// Checked for each input: no crash and no undefined behaviour (built with
// ASan and UBSan by scripts/fuzz.sh); an OK request has ids of 1-256 bytes of
// UTF-8, an as_of within the years 1900-9999 and known filters; every status
// message is at most kMaxStatusMessageBytes, one line, valid UTF-8 and free of
// control characters, and never holds a value longer than Quoted's cut whole;
// each absl code maps to the gRPC code of its number. Seeds:
// tests/fuzz/corpus/request (made by tests/fuzz/make_request_corpus.sh).
#include <google/protobuf/stubs/logging.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "core/customer_state.h"
#include "core/population.h"
#include "core/scorer.h"
#include "services/codec/touchpoint_codec.h"
#include "services/grpc/grpc_status.h"
#include "services/grpc/requests.h"
#include "services/grpc/scores_codec.h"
#include "tests/core/test_touchpoints.h"

namespace {

using namespace crm;

// Quoted's default cut, in bytes of the value shown.
constexpr std::size_t kQuotedCutBytes = 48;
// 1900-01-01T00:00:00Z and 9999-12-31T23:59:59Z (CONTRACT.md, "Access").
constexpr std::int64_t kMinAsOfSeconds = -2'208'988'800LL;
constexpr std::int64_t kMaxAsOfSeconds = 253'402'300'799LL;

// Stops the run, naming what failed (libFuzzer keeps the input).
[[noreturn]] void Fail(const char* what) {
  std::fprintf(stderr, "request_fuzzer: %s\n", what);
  std::abort();
}

// The code point of the UTF-8 sequence at the start of `text`.
// REQUIRES: `text` is well-formed UTF-8 and not empty.
char32_t Decode(std::string_view text, std::size_t* length) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  if (byte(0) < 0x80) {
    *length = 1;
    return byte(0);
  }
  *length = byte(0) >= 0xF0 ? 4 : byte(0) >= 0xE0 ? 3 : 2;
  char32_t code = byte(0) & (0x7F >> *length);
  for (std::size_t i = 1; i < *length; ++i) code = code << 6 | (byte(i) & 0x3F);
  return code;
}

// Whether `code` ends a line or reorders text where it is shown: C0 and C1
// controls, DEL, the line and paragraph separators, the bidi controls.
bool Unprintable(char32_t code) {
  return code < 0x20 || (code >= 0x7F && code <= 0x9F) || code == 0x2028 || code == 0x2029 ||
         (code >= 0x200E && code <= 0x200F) || (code >= 0x202A && code <= 0x202E) ||
         (code >= 0x2066 && code <= 0x2069);
}

// A status message fit for a client, a log line and a terminal.
void CheckMessage(std::string_view message) {
  if (message.size() > kMaxStatusMessageBytes) Fail("a status message over its bound");
  if (!IsUtf8(message)) Fail("a status message that is not UTF-8");
  while (!message.empty()) {
    std::size_t length = 0;
    if (Unprintable(Decode(message, &length))) Fail("a control character in a status message");
    message.remove_prefix(length);
  }
}

// What the edge answers with `status`, and that no value of the request
// (`echoable`) longer than Quoted's cut is in it whole.
void CheckAnswer(const absl::Status& status, const std::vector<std::string_view>& echoable) {
  const grpc::Status answer = ToGrpc(status);
  if (static_cast<int>(answer.error_code()) != static_cast<int>(status.code())) {
    Fail("an absl code mapped to another gRPC code");
  }
  if (status.ok()) return;
  if (status.code() != absl::StatusCode::kInvalidArgument) Fail("a request refused otherwise");
  CheckMessage(std::string_view(status.message().data(), status.message().size()));
  CheckMessage(answer.error_message());
  for (const std::string_view value : echoable) {
    if (value.size() > kQuotedCutBytes && answer.error_message().find(value) != std::string::npos) {
      Fail("a long value echoed whole in a status");
    }
  }
}

void CheckId(std::string_view id) {
  if (id.empty() || id.size() > kMaxCustomerIdBytes || !IsUtf8(id)) {
    Fail("an OK request with a bad customer id");
  }
}

// A few customers to score at an accepted as_of: none, one of each kind of
// touchpoint in 2026, and one whose history spans years.
const std::vector<CustomerState>& States() {
  static const std::vector<CustomerState> states = [] {
    std::vector<CustomerState> out(3);
    const StateLimits limits;
    int n = 0;
    for (const TouchpointType type :
         {TouchpointType::kPurchase, TouchpointType::kComplaint, TouchpointType::kSurvey,
          TouchpointType::kConsent, TouchpointType::kReturn, TouchpointType::kContact}) {
      ApplyTouchpoint(testing::MakeTouchpoint(type, "e" + std::to_string(n++), 10), limits, out[1]);
    }
    for (int day = -3000; day <= 300; day += 97) {
      ApplyTouchpoint(
          testing::MakeTouchpoint(TouchpointType::kPurchase, "e" + std::to_string(n++), day),
          limits, out[2]);
    }
    return out;
  }();
  return states;
}

// What the service does with an accepted as_of (scoring_service.cc, AsOf then
// Score then ToProto): no overflow, and the time comes back to the microsecond.
void ScoreAt(const google::protobuf::Timestamp& as_of, std::string_view id) {
  if (as_of.seconds() < kMinAsOfSeconds || as_of.seconds() > kMaxAsOfSeconds || as_of.nanos() < 0 ||
      as_of.nanos() > 999'999'999) {
    Fail("an OK request with an as_of outside the years 1900-9999");
  }
  const Timestamp at = FromProtoTime(as_of);
  static const Scorer scorer{Model{}};
  for (const CustomerState& state : States()) {
    const Scores scores = scorer.Score(CustomerId(std::string(id)), state, at);
    // A churn in [0, 1] for a buyer, none for a prospect.
    if (scores.churn && state.purchase_days.empty()) Fail("a prospect with a churn");
    if (scores.churn && !(*scores.churn >= 0 && *scores.churn <= 1)) Fail("churn outside [0, 1]");
    v1::CustomerScores answer;
    ToProto(scores, &answer);
    if (answer.as_of().seconds() != as_of.seconds() ||
        answer.as_of().nanos() != as_of.nanos() / 1000 * 1000) {
      Fail("as_of does not come back as asked");
    }
  }
}

// Whether `proto` parses as a `Request`. With a raw field to set, what was
// parsed is used even when the rest did not.
template <typename Request>
bool Read(std::string_view proto, const std::string_view* raw, Request* request) {
  return request->ParseFromArray(proto.data(), static_cast<int>(proto.size())) || raw != nullptr;
}

void FuzzStatus(std::string_view input) {
  if (input.empty()) return;
  const int code = static_cast<std::uint8_t>(input[0]) % 20;  // 17-19: not canonical
  const std::string message(input.substr(1));
  const absl::Status status(static_cast<absl::StatusCode>(code), message);
  const grpc::Status answer = ToGrpc(status);
  const int expected = code <= 16 ? code : static_cast<int>(grpc::StatusCode::UNKNOWN);
  if (static_cast<int>(answer.error_code()) != expected) Fail("an absl code mapped to another");
  if (!status.ok()) CheckMessage(answer.error_message());
  // A peer's answer passed on (scoring_service.cc, Prefixed).
  const grpc::Status peer =
      BoundedStatus({grpc::StatusCode::UNAVAILABLE, "from " + Quoted(message) + ": " + message});
  if (peer.error_code() != grpc::StatusCode::UNAVAILABLE) Fail("a bounded status lost its code");
  CheckMessage(peer.error_message());
  if (message.size() > kMaxStatusMessageBytes &&
      peer.error_message().find(message) != std::string::npos) {
    Fail("a peer's long message passed on whole");
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  google::protobuf::SetLogHandler(nullptr);  // no line per string that is not UTF-8
  States();
  return 0;
}

// ListOfferTargets: an OK request names a product of 1-256 bytes of UTF-8,
// asks for 1-1000 targets, of a known segment and a known channel or none.
int FuzzOfferTargets(std::string_view proto, const std::string_view* raw,
                     const std::string& raw_string) {
  v1::ListOfferTargetsRequest request;
  if (!Read(proto, raw, &request)) return -1;
  if (raw != nullptr) request.set_product(raw_string);
  const absl::Status status = Validate(request);
  CheckAnswer(status, {request.product(), request.segment()});
  if (!status.ok()) return 0;
  const std::string& product = request.product();
  if (product.empty() || product.size() > kMaxProductBytes || !IsUtf8(product)) {
    Fail("an OK offer ranking with a bad product");
  }
  if (request.top_n() == 0 || request.top_n() > kMaxTopN) Fail("an OK offer ranking off bounds");
  const std::string& segment = request.segment();
  if (!segment.empty() && segment != "A" && segment != "B" && segment != "C") {
    Fail("an OK offer ranking with an unknown segment");
  }
  if (!v1::Channel_IsValid(request.channel())) Fail("an OK offer ranking with an unknown channel");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  if (input.empty()) return -1;
  const std::uint8_t selector = static_cast<std::uint8_t>(input[0]);
  input.remove_prefix(1);
  const int kind = selector & 7;
  if (kind >= 6) {
    FuzzStatus(input);
    return 0;
  }
  std::string_view proto = input;
  std::string_view raw_value;
  const std::string_view* raw = nullptr;
  if ((selector & 0x80) != 0) {
    if (input.size() < 2) return -1;
    const std::size_t length = std::min<std::size_t>(
        static_cast<std::uint8_t>(input[0]) |
            static_cast<std::size_t>(static_cast<std::uint8_t>(input[1])) << 8,
        input.size() - 2);
    proto = input.substr(2, length);
    raw_value = input.substr(2 + length);
    raw = &raw_value;
  }
  const std::string raw_string(raw_value);
  switch (kind) {
    case 0: {
      v1::GetCustomerScoresRequest request;
      if (!Read(proto, raw, &request)) return -1;
      if (raw != nullptr) request.set_customer_id(raw_string);
      const absl::Status status = Validate(request);
      CheckAnswer(status, {request.customer_id()});
      if (!status.ok()) return 0;
      CheckId(request.customer_id());
      if (request.has_as_of()) ScoreAt(request.as_of(), request.customer_id());
      return 0;
    }
    case 1: {
      v1::BatchGetCustomerScoresRequest request;
      if (!Read(proto, raw, &request)) return -1;
      if (raw != nullptr) {
        if (request.customer_ids_size() == 0) request.add_customer_ids();
        request.set_customer_ids((selector >> 3 & 7) % request.customer_ids_size(), raw_string);
      }
      const absl::Status status = Validate(request);
      std::vector<std::string_view> ids(request.customer_ids().begin(),
                                        request.customer_ids().end());
      CheckAnswer(status, ids);
      if (!status.ok()) return 0;
      if (request.customer_ids_size() > kMaxBatchIds) Fail("an OK batch over its bound");
      for (const std::string_view id : ids) CheckId(id);
      if (request.has_as_of()) {
        ScoreAt(request.as_of(), ids.empty() ? std::string_view("c1") : ids.front());
      }
      return 0;
    }
    case 2: {
      v1::GetCustomerStateRequest request;
      if (!Read(proto, raw, &request)) return -1;
      if (raw != nullptr) request.set_customer_id(raw_string);
      const absl::Status status = Validate(request);
      CheckAnswer(status, {request.customer_id()});
      if (status.ok()) CheckId(request.customer_id());
      return 0;
    }
    case 3: {
      if ((selector & 0x40) != 0) return FuzzOfferTargets(proto, raw, raw_string);
      v1::ListAtRiskCustomersRequest request;
      if (!Read(proto, raw, &request)) return -1;
      if (raw != nullptr) request.set_segment(raw_string);
      const absl::Status status = Validate(request);
      CheckAnswer(status, {request.segment()});
      if (!status.ok()) return 0;
      if (request.top_n() > kMaxTopN) Fail("an OK ranking over its bound");
      if (!request.segment().empty() && request.segment() != "A" && request.segment() != "B" &&
          request.segment() != "C") {
        Fail("an OK ranking with an unknown segment");
      }
      return 0;
    }
    case 4: {
      v1::WatchAlertsRequest request;
      if (!Read(proto, raw, &request)) return -1;
      if (raw != nullptr) {
        if ((selector & 0x40) != 0) {
          request.set_action(raw_string);
        } else {
          request.set_segment(raw_string);
        }
      }
      const absl::Status status = Validate(request);
      CheckAnswer(status, {request.segment(), request.action()});
      if (!status.ok()) return 0;
      if (!(request.min_churn() >= 0 && request.min_churn() <= 1)) {
        Fail("an OK watch with min_churn outside [0, 1]");
      }
      const std::string& segment = request.segment();
      if (!segment.empty() && segment != "A" && segment != "B" && segment != "C") {
        Fail("an OK watch with an unknown segment");
      }
      const std::string& action = request.action();
      if (!action.empty() && action != "WIN_BACK" && action != "RETAIN" && action != "DEVELOP" &&
          action != "NONE") {
        Fail("an OK watch with an unknown action");
      }
      return 0;
    }
    case 5: {
      v1::EraseCustomerRequest request;
      if (!Read(proto, raw, &request)) return -1;
      if (raw != nullptr) request.set_customer_id(raw_string);
      const absl::Status status = Validate(request);
      CheckAnswer(status, {request.customer_id()});
      if (status.ok()) CheckId(request.customer_id());
      return 0;
    }
  }
  return 0;
}
