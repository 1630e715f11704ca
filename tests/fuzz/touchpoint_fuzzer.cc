// libFuzzer target over what untrusted input reaches: decode (protobuf or
// JSON) → validate → apply → look (churn, alert, next look) → commit, and the
// state record's round trip through storage encoding. An input is a few
// records, each a flags byte (bit 0: the JSON content-type header; bit 1: the
// Kafka key is the customer id reversed, so not theirs), a 2-byte
// little-endian length and that many bytes of value (the last record takes
// what is left), applied in order to a fresh world: a crash reproduces from
// its input alone. Built by scripts/fuzz.sh (clang-14, -fsanitize=fuzzer,
// address, undefined). JSON records are reached by the flag or by a leading
// '{' (seeds *.json); every rejection's detail is checked to be bounded and
// free of control characters.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/alerts.h"
#include "core/board.h"
#include "core/ingest_processor.h"
#include "core/scorer.h"
#include "core/validation.h"
#include "services/codec/state_codec.h"
#include "services/codec/touchpoint_codec.h"
#include "tests/core/test_touchpoints.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/memory_state_store.h"
#include "tests/fakes/recording_probe.h"
#include "tests/fakes/recording_reject_sink.h"

namespace {

using namespace crm;

// The processor and its world, remade every so often to bound memory.
struct World {
  World()
      : scorers(std::make_shared<const Scorer>(Model{})),
        processor(
            IngestOptions{}, &store, &clock, &probe,
            {.rejects = DeadLetters{&rejects}, .population = PublishedPopulation{&population}}) {
    processor.EnableAlerts({.scorers = &scorers, .policy = &policy, .clock = nullptr});
    if (!processor.Load().ok()) __builtin_trap();
  }
  testing::FakeClock clock{testing::Day(400)};
  testing::MemoryStateStore store;
  testing::RecordingProbe probe;
  testing::RecordingRejectSink rejects;
  PopulationBoard population;
  Board<Scorer> scorers;
  AlertPolicy policy;
  IngestProcessor processor;
  std::int64_t offset = 0;
};

}  // namespace

// Stops the run, naming what failed (libFuzzer keeps the input).
[[noreturn]] void Fail(const char* what) {
  std::fprintf(stderr, "touchpoint_fuzzer: %s\n", what);
  std::abort();
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  World world;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  while (input.size() >= 3) {
    const std::uint8_t flags = static_cast<std::uint8_t>(input[0]);
    const std::size_t length = std::min<std::size_t>(
        static_cast<std::uint8_t>(input[1]) |
            static_cast<std::size_t>(static_cast<std::uint8_t>(input[2])) << 8,
        input.size() - 3);
    const std::string_view value = input.substr(3, length);
    input.remove_prefix(3 + length);
    InputRecord record;
    record.offset = world.offset++;
    record.value = value;
    record.payload = DecodeTouchpoint(value, (flags & 1) != 0 ? "application/json" : "");
    if (const auto* rejection = std::get_if<Rejection>(&record.payload)) {
      // A detail goes into a header and the log whatever the input: bounded, one line.
      const std::string& detail = rejection->detail();
      if (detail.size() > kMaxRejectionDetailBytes) Fail("a rejection detail over its bound");
      for (const char c : detail) {
        const auto byte = static_cast<unsigned char>(c);
        if (byte < 0x20 || byte == 0x7f) Fail("a control character in a rejection detail");
      }
    }
    const Touchpoint* touchpoint = std::get_if<Touchpoint>(&record.payload);
    if (touchpoint != nullptr) {
      record.key = touchpoint->customer_id.value();
      if ((flags & 2) != 0) std::reverse(record.key.begin(), record.key.end());
    }
    auto result = world.processor.Process({record});
    if (!result.ok()) Fail("Process failed on the memory store");
    if (touchpoint == nullptr) continue;
    auto state = world.store.Find(touchpoint->customer_id);
    if (!state.ok()) Fail("Get failed on the memory store");
    if (!*state) continue;
    // Scores of any state are computable, and its record round-trips.
    const Scores scores =
        world.scorers.Current()->Score(touchpoint->customer_id, **state, touchpoint->occurred_at,
                                       world.population.Current().get());
    // A churn in [0, 1] for a buyer, none for a prospect.
    if (scores.churn && (**state).purchase_days.empty()) Fail("a prospect with a churn");
    if (scores.churn && !(*scores.churn >= 0 && *scores.churn <= 1)) Fail("churn outside [0, 1]");
    const std::string bytes = EncodeState(**state);
    auto decoded = DecodeState(bytes);
    if (!decoded.ok()) Fail("a stored state does not decode");
    if (EncodeState(*decoded) != bytes) Fail("a stored state does not round-trip");
  }
  return 0;
}
