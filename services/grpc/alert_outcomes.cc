#include "services/grpc/alert_outcomes.h"

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <utility>

#include "core/uplift.h"
#include "services/codec/touchpoint_codec.h"
#include "services/grpc/cluster_ranking.h"

namespace crm {
namespace {

void ToProto(const OutcomeGroup& group, v1::OutcomeGroup* out) {
  out->set_alerts(group.alerts);
  out->set_contacted(group.contacted);
  out->set_recovered(group.recovered);
  out->set_revenue(group.revenue);
}

OutcomeGroup GroupOf(const v1::OutcomeGroup& group) {
  return {.alerts = group.alerts(),
          .contacted = group.contacted(),
          .recovered = group.recovered(),
          .revenue = group.revenue()};
}

// Recovered ÷ alerts; 0 without alerts.
double RecoveryRate(const OutcomeGroup& group) {
  return group.alerts > 0 ? static_cast<double>(group.recovered) / static_cast<double>(group.alerts)
                          : 0;
}

// The treated and control groups of `totals` and their uplift, into a
// message with those fields (AlertOutcomes, OutcomeWeek).
template <typename Message>
void SetGroups(const OutcomeTotals& totals, Message* out) {
  ToProto(totals.treated, out->mutable_treated());
  ToProto(totals.control, out->mutable_control());
  const std::optional<UpliftEstimate> uplift =
      EstimateUplift(totals.treated.alerts, totals.treated.recovered, totals.control.alerts,
                     totals.control.recovered);
  out->set_uplift_known(uplift.has_value());
  out->set_uplift(uplift ? uplift->uplift : 0);
  out->set_uplift_low(uplift ? uplift->interval.low : 0);
  out->set_uplift_high(uplift ? uplift->interval.high : 0);
}

// The filter of a validated request.
OutcomeFilter FilterOf(const v1::GetAlertOutcomesRequest& request) {
  OutcomeFilter filter;
  if (request.has_since()) filter.since = FromProtoTime(request.since());
  if (request.has_until()) filter.until = FromProtoTime(request.until());
  if (!request.action().empty()) filter.action = ParseRecommendedAction(request.action());
  if (!request.segment().empty()) filter.segment = ParseSegment(request.segment());
  if (!request.campaign_id().empty()) filter.campaign = request.campaign_id();
  return filter;
}

grpc::Status SumLocally(const ScoringParts& parts, const OutcomeFilter& filter,
                        const PartitionOwnership::Snapshot* ownership, bool served_only,
                        v1::AlertOutcomes* response) {
  OutcomeReport report;
  const auto take = [&](std::int32_t partition) {
    return !served_only || ownership == nullptr || ownership->Serves(partition);
  };
  absl::Status read = parts.store->ForEachFollowUp(
      filter.since, filter.until, take,
      [&](const AlertFollowUp& follow_up) { Tally(follow_up, filter, report); });
  if (!read.ok()) return ToGrpc(read);
  ToProto(report, response);
  const std::chrono::days window =
      std::chrono::floor<std::chrono::days>(parts.options->alert_policy.marketing.outcome_window);
  response->set_outcome_window_days(static_cast<std::uint32_t>(window.count()));
  NameLocalAnswer(parts, ownership, response);
  return grpc::Status::OK;
}

}  // namespace

void ToProto(const OutcomeReport& report, v1::AlertOutcomes* out) {
  SetGroups(report.all, out);
  const OutcomeGroup& treated = report.all.treated;
  const OutcomeGroup& control = report.all.control;
  out->set_treated_recovery_rate(RecoveryRate(treated));
  out->set_control_recovery_rate(RecoveryRate(control));
  // What the treated would have spent at the control group's revenue per alert.
  const double expected = control.alerts > 0
                              ? control.revenue / static_cast<double>(control.alerts) *
                                    static_cast<double>(treated.alerts)
                              : treated.revenue;
  out->set_incremental_revenue(treated.revenue - expected);
  out->clear_weeks();
  for (const auto& [week, totals] : report.weeks) {
    v1::OutcomeWeek* row = out->add_weeks();
    ToProtoTime(week, row->mutable_week());
    SetGroups(totals, row);
  }
}

OutcomeReport ReportOf(const v1::AlertOutcomes& outcomes) {
  OutcomeReport report;
  report.all = {GroupOf(outcomes.treated()), GroupOf(outcomes.control())};
  for (const v1::OutcomeWeek& row : outcomes.weeks()) {
    report.weeks[FromProtoTime(row.week())] = {GroupOf(row.treated()), GroupOf(row.control())};
  }
  return report;
}

grpc::Status GetOutcomes(const ScoringParts& parts, grpc::ServerContext* context,
                         const Caller& caller, const v1::GetAlertOutcomesRequest& request,
                         v1::AlertOutcomes* response) {
  const OutcomeFilter filter = FilterOf(request);
  using Response = v1::AlertOutcomes;
  RankingCall<v1::GetAlertOutcomesRequest, Response> call;
  call.local = [&](const PartitionOwnership::Snapshot* owned, bool served_only, Response* out) {
    return SumLocally(parts, filter, owned, served_only, out);
  };
  call.ask = [](v1::ScoringService::Stub& stub, grpc::ClientContext* ask,
                const v1::GetAlertOutcomesRequest* sent, Response* answer,
                std::function<void(grpc::Status)> done) {
    stub.async()->GetAlertOutcomes(ask, sent, answer, std::move(done));
  };
  call.take = [](Response& answer, Response* out) {
    OutcomeReport merged = ReportOf(*out);
    Merge(ReportOf(answer), merged);
    ToProto(merged, out);
  };
  call.order = [](Response* /*out*/) {};  // each take left the sums complete
  return RankInCluster(parts, context, caller, request, call, response);
}

}  // namespace crm
