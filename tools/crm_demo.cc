// crm-demo: produces a live, realistic multichannel customer population to
// Kafka and, given the service's gRPC and metrics addresses, redraws a view of
// throughput and a few customers' scores every second.
#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>
#include <librdkafka/rdkafkacpp.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <deque>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <sstream>
#include <thread>

#include "core/clock.h"
#include "crm/v1/scoring.grpc.pb.h"
#include "services/codec/touchpoint_codec.h"
#include "services/common/defaults.h"
#include "tools/command_line.h"
#include "tools/demo/campaign.h"
#include "tools/demo/population.h"
#include "tools/scrape.h"

namespace {

std::atomic<bool> g_stop{false};
void OnSignal(int) { g_stop.store(true); }

std::string Date(crm::Timestamp t) {
  const std::time_t seconds = crm::ToMicros(t) / 1'000'000;
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%d %H:%M", &tm);
  return text;
}

// Writes the touchpoints of the population's first `days` simulated days,
// ending now, as JSON lines.
int WriteHistory(const std::string& path, int customers, std::uint64_t seed, double duplicate_rate,
                 double days) {
  std::ofstream file;
  if (path != "-") {
    file.open(path, std::ios::trunc);
    if (!file) {
      std::cerr << "crm-demo: cannot write " << path << "\n";
      return 1;
    }
  }
  std::ostream& out = path == "-" ? std::cout : file;
  crm::WallClock clock;
  crm::demo::PopulationOptions options;
  options.customers = customers;
  options.seed = seed;
  options.duplicate_rate = duplicate_rate;
  const crm::Timestamp end = clock.Now();
  options.start = end - crm::FromDays(days);
  crm::demo::Population population(options);
  crm::v1::Touchpoint message;
  std::string line;
  google::protobuf::util::JsonPrintOptions json;
  json.preserve_proto_field_names = true;
  std::uint64_t written = 0;
  for (;;) {
    const crm::Touchpoint tp = population.Next();
    if (tp.occurred_at > end) break;
    message.Clear();
    crm::ToProto(tp, &message);
    line.clear();
    (void)google::protobuf::util::MessageToJsonString(message, &line, json);
    out << line << "\n";
    if (++written % 100000 == 0) std::cerr << "\rcrm-demo: " << written << " touchpoints";
  }
  std::cerr << "\rcrm-demo: " << written << " touchpoints of " << customers << " customers over "
            << days << " simulated days written\n";
  return out.flush() ? 0 : 1;
}

// A table of two customers of each persona, their scores as of
// `simulated_now` as the service behind `stub` answers them.
std::string CustomerTable(crm::v1::ScoringService::Stub& stub,
                          const crm::demo::Population& population, crm::Timestamp simulated_now) {
  std::ostringstream view;
  char line[512];
  std::snprintf(line, sizeof(line), "\n%-18s %6s %7s %4s %4s %-11s %-8s %5s %5s %-17s %s\n",
                "customer", "events", "recency", "RFMT", "ABC", "lifecycle", "channel", "churn",
                "alive", "best offer", "why churn");
  view << line;
  for (int p = 0; p < crm::demo::kPersonaCount; ++p) {
    for (int i = 0; i < 2; ++i) {
      const std::string id = population.CustomerOf(static_cast<crm::demo::Persona>(p), i);
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(1));
      crm::v1::GetCustomerScoresRequest request;
      request.set_customer_id(id);
      crm::ToProtoTime(simulated_now, request.mutable_as_of());
      crm::v1::CustomerScores scores;
      const grpc::Status status = stub.GetCustomerScores(&context, request, &scores);
      if (!status.ok()) {
        std::snprintf(line, sizeof(line), "%-20s %s\n", id.c_str(),
                      status.error_code() == grpc::StatusCode::NOT_FOUND
                          ? "not yet seen"
                          : status.error_message().c_str());
      } else {
        const crm::v1::Rfm& rfm = scores.rfm();
        const std::string rfmt = std::to_string(rfm.r_score()) + std::to_string(rfm.f_score()) +
                                 std::to_string(rfm.m_score()) + std::to_string(rfm.t_score());
        std::string offer = "-";
        double best = -1;
        for (const auto& [product, p] : scores.appetence()) {
          if (p > best) {
            best = p;
            char text[64];
            std::snprintf(text, sizeof(text), "%s %.2f", product.c_str(), p);
            offer = text;
          }
        }
        std::string why;  // the strongest reason raising the churn
        for (const crm::v1::Reason& reason : scores.reasons()) {
          if (reason.weight() > 0) {
            why = reason.sentence();
            break;
          }
        }
        std::snprintf(line, sizeof(line),
                      "%-18s %6llu %7.1f %4s %4s %-11s %-8s %5.2f %5.2f %-17s %s\n", id.c_str(),
                      static_cast<unsigned long long>(scores.events_applied()), rfm.recency_days(),
                      rfmt.c_str(), scores.segment().c_str(), scores.lifecycle_stage().c_str(),
                      scores.preferred_channel() == crm::v1::CHANNEL_UNSPECIFIED
                          ? "-"
                          : crm::v1::Channel_Name(scores.preferred_channel()).c_str(),
                      scores.churn(), scores.p_alive(), offer.c_str(),
                      scores.has_churn() ? why.c_str() : "(prospect: no churn)");
      }
      view << line;
    }
  }
  return view.str();
}

// The customers with the most value at risk now (churn at or above the alert
// threshold; lost customers left out), with the reason that weighs most.
std::string AtRiskView(crm::v1::ScoringService::Stub& stub) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(1));
  crm::v1::ListAtRiskCustomersRequest request;
  request.set_top_n(5);
  request.set_order_by(crm::v1::AT_RISK_ORDER_VALUE_AT_RISK);
  crm::v1::ListAtRiskCustomersResponse response;
  if (!stub.ListAtRiskCustomers(&context, request, &response).ok()) return "";
  std::ostringstream view;
  char line[512];
  std::snprintf(line, sizeof(line), "\nmost value at risk\n%-18s %9s %5s %-15s %-11s %s\n",
                "customer", "at risk", "churn", "quadrant", "lifecycle", "why churn");
  view << line;
  for (const crm::v1::CustomerScores& s : response.customers()) {
    const std::string why = s.reasons().empty() ? "-" : s.reasons(0).sentence();
    std::snprintf(line, sizeof(line), "%-18s %9.2f %5.2f %-15s %-11s %s\n", s.customer_id().c_str(),
                  s.value_at_risk(), s.churn(), s.value_quadrant().c_str(),
                  s.lifecycle_stage().c_str(), why.c_str());
    view << line;
  }
  return view.str();
}

// The win-back campaign's outcomes as the service measures them, beside the
// effect the demo's campaign tool has (`truth`).
std::string OutcomesView(crm::v1::ScoringService::Stub& stub, double truth) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(1));
  crm::v1::AlertOutcomes outcomes;
  if (!stub.GetAlertOutcomes(&context, crm::v1::GetAlertOutcomesRequest(), &outcomes).ok()) {
    return "";
  }
  char line[512];
  std::snprintf(line, sizeof(line),
                "\nwin-back campaign (the demo brings back %.0f %% more of the treated than "
                "of the control, among those who would not come back on their own)\n"
                "treated %5llu alerts, %5llu contacted, %4.0f %% back   control %5llu alerts, "
                "%4.0f %% back\n",
                100 * truth, static_cast<unsigned long long>(outcomes.treated().alerts()),
                static_cast<unsigned long long>(outcomes.treated().contacted()),
                100 * outcomes.treated_recovery_rate(),
                static_cast<unsigned long long>(outcomes.control().alerts()),
                100 * outcomes.control_recovery_rate());
  std::string view = line;
  if (outcomes.uplift_known()) {
    std::snprintf(line, sizeof(line),
                  "uplift %+.0f points (95 %%: %+.0f to %+.0f), incremental revenue %.0f\n",
                  100 * outcomes.uplift(), 100 * outcomes.uplift_low(),
                  100 * outcomes.uplift_high(), outcomes.incremental_revenue());
    view += line;
  }
  return view;
}

// The campaign tool's ear: the service's alert stream, read by a thread of
// its own, each raise kept until the live run takes it.
class AlertListener {
 public:
  explicit AlertListener(crm::v1::ScoringService::Stub& stub)
      : reader_(stub.WatchAlerts(&context_, crm::v1::WatchAlertsRequest())),
        thread_([this] { Listen(); }) {}
  ~AlertListener() {
    context_.TryCancel();
    thread_.join();
  }
  AlertListener(const AlertListener&) = delete;
  AlertListener& operator=(const AlertListener&) = delete;

  // The raises read since the last call.
  std::deque<crm::demo::RaisedAlert> Take() {
    std::lock_guard<std::mutex> lock(mutex_);
    return std::exchange(raised_, {});
  }

 private:
  void Listen() {
    crm::v1::ChurnAlert alert;
    while (reader_->Read(&alert)) {
      if (alert.transition() != crm::v1::ALERT_TRANSITION_RAISED) continue;
      crm::demo::RaisedAlert raised{
          .alert_id = alert.alert_id(),
          .customer = crm::CustomerId(alert.customer_id()),
          .raised_at = crm::FromProtoTime(alert.raised_at()),
          .for_marketing = alert.for_marketing(),
          .control = alert.control(),
          .channel = static_cast<crm::Channel>(alert.recommended_channel())};
      std::lock_guard<std::mutex> lock(mutex_);
      raised_.push_back(std::move(raised));
    }
    (void)reader_->Finish();  // cancelled at the end, or the service went away
  }

  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReader<crm::v1::ChurnAlert>> reader_;
  std::mutex mutex_;
  std::deque<crm::demo::RaisedAlert> raised_;
  std::thread thread_;  // last: started once the rest is
};

// crm-demo's flags.
struct Flags {
  std::string brokers, topic = std::string(crm::kDefaultTouchpointTopic), grpc_address, metrics_url,
                       desk_url, history_out;
  double rate = 200, duration_s = 0, history_days = 365, duplicate_rate = 0.01;
  crm::demo::CampaignOptions campaign;
  int customers = 2000;
  std::uint64_t seed = 1;
  std::vector<std::string> kafka;
};

void AddFlags(CLI::App& app, Flags& f) {
  app.add_option("--brokers", f.brokers, "Kafka bootstrap servers (required unless --history-out)")
      ->envname("CRM_BROKERS");
  app.add_option("--history-out", f.history_out,
                 "Write the population's --history-days of touchpoints as JSON lines to this "
                 "file ('-': stdout), for crm-train, and exit; no Kafka");
  app.add_option("--topic", f.topic, "Touchpoint topic")->capture_default_str();
  app.add_option("--rate", f.rate, "Touchpoints per second")
      ->check(CLI::Range(1.0, 1e6))
      ->capture_default_str();
  app.add_option("--customers", f.customers, "Customers")
      ->check(CLI::Range(10, 10'000'000))
      ->capture_default_str();
  app.add_option("--duration", f.duration_s, "Seconds to run (0: until SIGINT/SIGTERM)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--seed", f.seed, "Random seed")->capture_default_str();
  app.add_option("--history-days", f.history_days, "Simulated days before now to start at")
      ->check(CLI::Range(1.0, 3650.0))
      ->capture_default_str();
  app.add_option("--duplicate-rate", f.duplicate_rate, "Share of events re-sent with the same id")
      ->check(CLI::Range(0.0, 0.5))
      ->capture_default_str();
  app.add_option("--treated-return", f.campaign.treated_return,
                 "With --grpc, the demo plays the campaign tool: the share of customers of "
                 "alerts for marketing it contacts who come back within the window")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  app.add_option("--control-return", f.campaign.control_return,
                 "The share of customers of control alerts who come back within the window "
                 "(the true uplift: --treated-return minus this)")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  app.add_option("--grpc", f.grpc_address,
                 "crm-scored gRPC address, for the view and the campaign tool");
  app.add_option("--metrics", f.metrics_url, "crm-scored metrics URL, for the view");
  app.add_option("--desk", f.desk_url, "the agents' desk's URL, shown atop the view");
  app.add_option("--kafka", f.kafka, "librdkafka property KEY=VALUE (repeatable)");
}

crm::demo::CampaignOptions CampaignOptionsOf(const Flags& flags) {
  crm::demo::CampaignOptions options = flags.campaign;
  options.seed = flags.seed;
  return options;
}

// The live run: produces the population's touchpoints as they come due (and
// the campaign tool's, answering the service's alerts), and
// redraws the view (throughput, alerts, a few customers) every few seconds.
class LiveRun {
 public:
  LiveRun(const Flags& flags, RdKafka::Producer& producer, crm::v1::ScoringService::Stub* stub,
          crm::demo::Population& population, crm::Timestamp start)
      : flags_(flags),
        producer_(producer),
        stub_(stub),
        population_(population),
        campaign_(CampaignOptionsOf(flags)),
        simulated_now_(start),
        last_view_(std::chrono::steady_clock::now()) {
    if (stub_ != nullptr) listener_ = std::make_unique<AlertListener>(*stub_);
  }

  // Produces up to `target` touchpoints in all, none later than `now`; false
  // on a produce error (said on stderr).
  bool Produce(std::uint64_t target, crm::Timestamp now) {
    if (listener_ != nullptr) {
      for (const crm::demo::RaisedAlert& alert : listener_->Take()) {
        for (crm::Touchpoint& tp : campaign_.Respond(alert, simulated_now_)) {
          population_.Inject(std::move(tp));
        }
      }
    }
    while (produced_ < target) {
      if (!pending_) pending_ = population_.Next();
      if (pending_->occurred_at > now) break;  // caught up: real time from here
      message_.Clear();
      crm::ToProto(*pending_, &message_);
      message_.SerializeToString(&bytes_);
      const std::string& key = pending_->customer_id.value();
      const RdKafka::ErrorCode err = producer_.produce(
          flags_.topic, RdKafka::Topic::PARTITION_UA, RdKafka::Producer::RK_MSG_COPY, bytes_.data(),
          bytes_.size(), key.data(), key.size(), 0, nullptr);
      if (err == RdKafka::ERR__QUEUE_FULL) {
        producer_.poll(10);
        break;
      }
      if (err != RdKafka::ERR_NO_ERROR) {
        std::cerr << "crm-demo: produce: " << RdKafka::err2str(err) << "\n";
        return false;
      }
      simulated_now_ = std::max(simulated_now_, pending_->occurred_at);
      pending_.reset();
      ++produced_;
    }
    return true;
  }

  // Redraws the view when its time has come (every second on a terminal,
  // every five otherwise).
  void RedrawWhenDue(std::chrono::steady_clock::time_point now) {
    const double since_view = std::chrono::duration<double>(now - last_view_).count();
    if (since_view < (tty_ ? 1.0 : 5.0)) return;
    std::ostringstream view;
    if (tty_) view << "\033[2J\033[H";
    const std::optional<std::string> page =
        flags_.metrics_url.empty() ? std::nullopt : crm::HttpGet(flags_.metrics_url);
    // Sums every sample of `metric`; -1 without a page.
    const auto sum = [&](const char* metric) { return page ? crm::SumSamples(*page, metric) : -1; };
    const double applied = sum("crm_touchpoints_applied_total");
    view << "crm-demo  simulated " << Date(simulated_now_) << "   produced " << produced_ << " ("
         << static_cast<int>(static_cast<double>(produced_ - produced_at_view_) / since_view)
         << "/s)";
    if (applied >= 0) {
      view << "   applied " << static_cast<std::uint64_t>(applied);
      if (applied_at_view_ >= 0) {
        view << " (" << static_cast<int>((applied - applied_at_view_) / since_view) << "/s)";
      }
      view << "   at-risk alerts open " << static_cast<std::uint64_t>(sum("crm_alerts_open"));
    }
    view << "\n";
    if (!flags_.desk_url.empty()) view << "agents' desk: " << flags_.desk_url << "\n";
    if (stub_ != nullptr) {
      view << CustomerTable(*stub_, population_, simulated_now_) << AtRiskView(*stub_)
           << OutcomesView(*stub_, campaign_.true_uplift());
    }
    std::cout << view.str() << std::flush;
    last_view_ = now;
    produced_at_view_ = produced_;
    applied_at_view_ = applied;
  }

  std::uint64_t produced() const { return produced_; }

 private:
  const Flags& flags_;
  RdKafka::Producer& producer_;
  crm::v1::ScoringService::Stub* stub_;
  crm::demo::Population& population_;
  crm::demo::CampaignTool campaign_;
  std::unique_ptr<AlertListener> listener_;  // with a stub: the campaign tool's alerts
  const bool tty_ = isatty(STDOUT_FILENO) != 0;
  crm::Timestamp simulated_now_;
  std::optional<crm::Touchpoint> pending_;
  crm::v1::Touchpoint message_;
  std::string bytes_;
  std::uint64_t produced_ = 0, produced_at_view_ = 0;
  double applied_at_view_ = -1;
  std::chrono::steady_clock::time_point last_view_;
};

}  // namespace

// What may escape is what ends the process anyway (allocation failure).
int main(int argc, char** argv) {  // NOLINT(bugprone-exception-escape)
  Flags f;
  CLI::App app(
      "crm-demo: produces a live multichannel customer population (loyal, declining, "
      "complaining, new and occasional customers: purchases, web/kiosk/mobile visits, phone "
      "contacts, complaints, surveys, campaign responses, consent changes) to Kafka at a chosen "
      "rate, in simulated time starting --history-days ago and running as fast as --rate "
      "allows until it catches up with the present. With --grpc and --metrics it redraws the "
      "service's throughput and a few customers' scores every second.",
      "crm-demo");
  AddFlags(app, f);
  if (auto exit_code = crm::ParseCommandLine(app, argc, argv)) return *exit_code;
  if (!f.history_out.empty()) {
    return WriteHistory(f.history_out, f.customers, f.seed, f.duplicate_rate, f.history_days);
  }
  if (f.brokers.empty()) {
    std::cerr << "crm-demo: --brokers is required (or CRM_BROKERS), unless --history-out\n";
    return 2;
  }

  auto made = crm::MakeProducer(f.brokers, f.kafka, nullptr);
  if (!made.ok()) {
    std::cerr << "crm-demo: " << made.status().message() << "\n";
    return 2;
  }
  std::unique_ptr<RdKafka::Producer> producer = std::move(*made);
  std::unique_ptr<crm::v1::ScoringService::Stub> stub;
  if (!f.grpc_address.empty()) {
    stub = crm::v1::ScoringService::NewStub(
        grpc::CreateChannel(f.grpc_address, grpc::InsecureChannelCredentials()));
  }

  signal(SIGINT, OnSignal);
  signal(SIGTERM, OnSignal);
  crm::WallClock clock;
  crm::demo::PopulationOptions options;
  options.customers = f.customers;
  options.seed = f.seed;
  options.duplicate_rate = f.duplicate_rate;
  options.start = clock.Now() - crm::FromDays(f.history_days);
  crm::demo::Population population(options);
  std::cerr << "crm-demo: seed " << f.seed << ", " << f.customers << " customers, " << f.rate
            << " touchpoints/s, simulated time from " << Date(options.start) << "\n";

  LiveRun run(f, *producer, stub.get(), population, options.start);
  const auto started = std::chrono::steady_clock::now();
  while (!g_stop.load()) {
    const auto now = std::chrono::steady_clock::now();
    const double elapsed = std::chrono::duration<double>(now - started).count();
    if (f.duration_s > 0 && elapsed >= f.duration_s) break;
    if (!run.Produce(static_cast<std::uint64_t>(elapsed * f.rate), clock.Now())) return 1;
    producer->poll(0);
    run.RedrawWhenDue(now);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  producer->flush(10'000);
  std::cerr << "crm-demo: produced " << run.produced() << " touchpoints\n";
  return 0;
}
