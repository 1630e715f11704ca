// crm-core-bench: micro-benchmarks of the per-touchpoint work of the hot path
// (Google Benchmark), on the demo population's customers: decode, validate,
// apply, score, plan the next look, encode, and whole batches through the
// IngestProcessor on an in-memory store (no Kafka, no RocksDB).

#include <benchmark/benchmark.h>

#include <chrono>
#include <unordered_map>

#include "bench/workload.h"
#include "core/alerts.h"
#include "core/customer_state.h"
#include "core/ingest_processor.h"
#include "core/scorer.h"
#include "core/validation.h"
#include "services/codec/state_codec.h"
#include "services/codec/touchpoint_codec.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/memory_state_store.h"
#include "tests/fakes/recording_probe.h"
#include "tools/demo/population.h"

namespace crm::bench {
namespace {

constexpr int kCustomers = 20'000;
constexpr std::size_t kTouchpoints = 200'000;

// The demo population's touchpoints and the states they leave, built once.
struct Corpus {
  std::vector<Touchpoint> touchpoints;
  std::vector<std::string> wire;
  std::vector<CustomerState> states;  // of customers who bought, at the end
  Timestamp end{};

  Corpus() {
    demo::Population population({.customers = kCustomers, .seed = 3});
    std::unordered_map<std::string, CustomerState> by_id;
    for (std::size_t i = 0; i < kTouchpoints; ++i) {
      touchpoints.push_back(population.Next());
      wire.push_back(Encode(touchpoints.back()));
      ApplyTouchpoint(touchpoints.back(), StateLimits{},
                      by_id[touchpoints.back().customer_id.value()]);
    }
    end = touchpoints.back().occurred_at;
    for (auto& [id, state] : by_id) {
      if (!state.purchase_days.empty()) states.push_back(std::move(state));
    }
  }
};

const Corpus& TheCorpus() {
  static const Corpus corpus;
  return corpus;
}

void BM_DecodeTouchpoint(benchmark::State& s) {
  const Corpus& corpus = TheCorpus();
  std::size_t i = 0;
  for (auto _ : s) {
    benchmark::DoNotOptimize(DecodeTouchpoint(corpus.wire[i++ % corpus.wire.size()], ""));
  }
}
BENCHMARK(BM_DecodeTouchpoint);

void BM_ValidateTouchpoint(benchmark::State& s) {
  const Corpus& corpus = TheCorpus();
  const ValidationLimits limits;
  std::size_t i = 0;
  for (auto _ : s) {
    const Touchpoint& t = corpus.touchpoints[i++ % corpus.touchpoints.size()];
    benchmark::DoNotOptimize(ValidateTouchpoint(t, t.customer_id.value(), corpus.end, limits));
  }
}
BENCHMARK(BM_ValidateTouchpoint);

void BM_ApplyTouchpoint(benchmark::State& s) {
  const Corpus& corpus = TheCorpus();
  std::unordered_map<std::string, CustomerState> states;
  std::size_t i = 0;
  for (auto _ : s) {
    const Touchpoint& t = corpus.touchpoints[i++ % corpus.touchpoints.size()];
    benchmark::DoNotOptimize(ApplyTouchpoint(t, StateLimits{}, states[t.customer_id.value()]));
  }
}
BENCHMARK(BM_ApplyTouchpoint);

void BM_EncodeState(benchmark::State& s) {
  const Corpus& corpus = TheCorpus();
  std::size_t i = 0;
  for (auto _ : s) benchmark::DoNotOptimize(EncodeState(corpus.states[i++ % corpus.states.size()]));
}
BENCHMARK(BM_EncodeState);

void BM_DecodeState(benchmark::State& s) {
  const Corpus& corpus = TheCorpus();
  std::vector<std::string> encoded;
  for (std::size_t i = 0; i < 1000 && i < corpus.states.size(); ++i) {
    encoded.push_back(EncodeState(corpus.states[i]));
  }
  std::size_t i = 0;
  for (auto _ : s) benchmark::DoNotOptimize(DecodeState(encoded[i++ % encoded.size()]));
}
BENCHMARK(BM_DecodeState);

void BM_Churn(benchmark::State& s) {
  const Corpus& corpus = TheCorpus();
  const Scorer scorer{Model{}};
  std::size_t i = 0;
  for (auto _ : s) {
    benchmark::DoNotOptimize(scorer.Churn(corpus.states[i++ % corpus.states.size()], corpus.end));
  }
}
BENCHMARK(BM_Churn);

// The next look of a customer just looked at: a search over churn(t).
void BM_NextEvaluation(benchmark::State& s) {
  const Corpus& corpus = TheCorpus();
  const Scorer scorer{Model{}};
  const AlertPolicy policy;
  const auto horizon = std::chrono::duration_cast<Micros>(std::chrono::days(90));
  std::size_t i = 0, evaluations = 0;
  for (auto _ : s) {
    const CustomerState& state = corpus.states[i++ % corpus.states.size()];
    // As a look leaves it: evaluated (an alert raised if at risk), then planned.
    ChurnCurve curve(scorer, state);
    AlertState alert;
    UpdateAlert(CustomerId("c"), curve.At(corpus.end), Segment::kNone, corpus.end, policy, alert);
    benchmark::DoNotOptimize(NextLook(
        [&](Timestamp t) {
          ++evaluations;
          return curve.At(t);
        },
        corpus.end, alert, policy.defaults, policy.risk_precision, horizon));
  }
  s.counters["churn_evals_per_look"] =
      benchmark::Counter(static_cast<double>(evaluations) / static_cast<double>(s.iterations()));
}
BENCHMARK(BM_NextEvaluation);

void BM_FullScores(benchmark::State& s) {
  const Corpus& corpus = TheCorpus();
  const Scorer scorer{Model{}};
  std::size_t i = 0;
  for (auto _ : s) {
    benchmark::DoNotOptimize(scorer.Score(
        CustomerId("c"), corpus.states[i++ % corpus.states.size()], corpus.end, nullptr));
  }
}
BENCHMARK(BM_FullScores);

// Whole poll batches through the processor (decode included), alerts on,
// on the in-memory store: everything the consumer thread does but Kafka and
// RocksDB. Reported per touchpoint.
void BM_ProcessBatch(benchmark::State& s) {
  const Corpus& corpus = TheCorpus();
  const auto batch = static_cast<std::size_t>(s.range(0));
  testing::MemoryStateStore store;
  testing::FakeClock clock(corpus.end);
  testing::RecordingProbe probe;
  Board<Scorer> scorers(std::make_shared<const Scorer>(Model{}));
  const AlertPolicy policy;
  IngestProcessor processor(IngestOptions{}, &store, &clock, &probe, {.rejects = CountRejects{}});
  if (!processor.Load().ok()) s.SkipWithError("load");
  processor.EnableAlerts({.scorers = &scorers, .policy = &policy, .clock = &clock});
  std::vector<InputRecord> records(batch);
  std::size_t next = 0;
  std::int64_t offset = 0;
  for (auto _ : s) {
    for (InputRecord& record : records) {
      const std::size_t i = next++ % corpus.wire.size();
      record.partition = static_cast<std::int32_t>(i % 12);
      record.offset = offset++;
      record.key = corpus.touchpoints[i].customer_id.value();
      record.value = corpus.wire[i];
      record.payload = DecodeTouchpoint(record.value, "");
    }
    if (!processor.Process(records).ok()) s.SkipWithError("process");
  }
  s.SetItemsProcessed(static_cast<std::int64_t>(s.iterations() * batch));
}
BENCHMARK(BM_ProcessBatch)->Arg(100)->Arg(1000)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace crm::bench

BENCHMARK_MAIN();
