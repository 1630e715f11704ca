#include "services/codec/state_codec.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/wire_format_lite.h>

#include "core/bounded_text.h"
#include "crm/internal/stored_state.pb.h"
#include "services/codec/touchpoint_codec.h"

namespace crm {
namespace {

using internal::StoredAlert;
using internal::StoredCustomer;

std::int64_t Us(Timestamp t) { return ToMicros(t); }

void EncodeFollowUp(const AlertFollowUp& follow_up, internal::StoredFollowUp& out) {
  out.set_number(follow_up.number);
  out.set_raised_at_us(Us(follow_up.raised_at));
  out.set_control(follow_up.control);
  out.set_action(std::string(RecommendedActionName(follow_up.action)));
  out.set_segment(std::string(SegmentName(follow_up.segment)));
  out.set_contacts(follow_up.contacts);
  if (follow_up.recovered_at) out.set_recovered_at_us(Us(*follow_up.recovered_at));
  out.set_revenue(follow_up.revenue);
  out.set_campaign_id(follow_up.campaign_id);
  out.set_product(follow_up.product);
}

absl::StatusOr<AlertFollowUp> DecodeFollowUp(const internal::StoredFollowUp& stored) {
  const std::optional<RecommendedAction> action = ParseRecommendedAction(stored.action());
  const std::optional<Segment> segment = ParseSegment(stored.segment());
  if (!action || !segment) {
    return absl::DataLossError("stored follow-up names an unknown action or segment");
  }
  AlertFollowUp follow_up;
  follow_up.number = stored.number();
  follow_up.raised_at = FromMicros(stored.raised_at_us());
  follow_up.control = stored.control();
  follow_up.action = *action;
  follow_up.segment = *segment;
  follow_up.contacts = stored.contacts();
  if (stored.has_recovered_at_us()) follow_up.recovered_at = FromMicros(stored.recovered_at_us());
  follow_up.revenue = stored.revenue();
  follow_up.campaign_id = stored.campaign_id();
  follow_up.product = stored.product();
  return follow_up;
}

void EncodeFollowUps(const std::vector<AlertFollowUp>& follow_ups, StoredAlert& alert) {
  for (const AlertFollowUp& follow_up : follow_ups)
    EncodeFollowUp(follow_up, *alert.add_follow_ups());
}

absl::Status DecodeFollowUps(const StoredAlert& alert, std::vector<AlertFollowUp>& follow_ups) {
  if (static_cast<std::size_t>(alert.follow_ups_size()) > kMaxFollowUps) {
    return absl::DataLossError("stored customer record follows up too many alerts");
  }
  for (const internal::StoredFollowUp& stored : alert.follow_ups()) {
    absl::StatusOr<AlertFollowUp> follow_up = DecodeFollowUp(stored);
    if (!follow_up.ok()) return follow_up.status();
    follow_ups.push_back(*follow_up);
  }
  return absl::OkStatus();
}

template <typename Setter>
void SetOptional(const std::optional<Timestamp>& t, Setter set) {
  if (t) set(Us(*t));
}

// One message per thread, cleared and refilled: its repeated and nested
// fields keep their allocations from one record to the next.
StoredCustomer& Scratch() {
  thread_local StoredCustomer message;
  message.Clear();
  return message;
}

}  // namespace

std::string EncodeState(const CustomerState& s) {
  StoredCustomer& m = Scratch();
  m.set_events_applied(s.events_applied);
  SetOptional(s.first_seen, [&](std::int64_t v) { m.set_first_seen_us(v); });
  SetOptional(s.last_seen, [&](std::int64_t v) { m.set_last_seen_us(v); });
  SetOptional(s.first_purchase, [&](std::int64_t v) { m.set_first_purchase_us(v); });
  SetOptional(s.last_purchase, [&](std::int64_t v) { m.set_last_purchase_us(v); });
  m.set_purchases(s.purchases);
  m.mutable_purchase_days()->Add(s.purchase_days.begin(), s.purchase_days.end());
  m.set_purchase_amount(s.purchase_amount);
  m.set_first_day_amount(s.first_day_amount);
  m.set_returns(s.returns);
  m.set_return_amount(s.return_amount);
  m.set_complaints(s.complaints);
  for (Timestamp t : s.recent_complaints) m.add_recent_complaints_us(Us(t));
  m.set_surveys(s.surveys);
  for (const SatisfactionSample& sample : s.recent_satisfaction) {
    auto* out = m.add_recent_satisfaction();
    out->set_at_us(Us(sample.at));
    out->set_score(sample.score);
  }
  m.set_cancellations(s.cancellations);
  SetOptional(s.last_cancellation, [&](std::int64_t v) { m.set_last_cancellation_us(v); });
  m.set_campaign_responses(s.campaign_responses);
  m.set_campaign_contacts(s.campaign_contacts);
  for (Timestamp t : s.recent_campaign_contacts) m.add_recent_campaign_contacts_us(Us(t));
  for (int c = 0; c < kChannelCount; ++c) {
    const ChannelStats& stats = s.channels[c];
    if (stats.contacts == 0 && !stats.consent && !stats.last_contact) continue;
    auto* out = m.add_channels();
    out->set_channel(static_cast<std::uint32_t>(c));
    out->set_contacts(stats.contacts);
    out->set_recent_activity(stats.recent_activity);
    out->set_usual_activity(stats.usual_activity);
    if (stats.last_contact) {
      out->set_has_last_contact(true);
      out->set_last_contact_us(Us(*stats.last_contact));
    }
    if (stats.consent) out->set_consent(*stats.consent);
    if (stats.consent_at) out->set_consent_at_us(Us(*stats.consent_at));
  }
  for (const auto& [name, p] : s.products) {
    auto* out = m.add_products();
    out->set_product(name);
    out->set_purchases(p.purchases);
    out->set_interactions(p.interactions);
    out->set_returns(p.returns);
    out->set_cancellations(p.cancellations);
    out->set_last_at_us(Us(p.last_at));
    if (p.last_interaction) out->set_last_interaction_us(Us(*p.last_interaction));
  }
  for (const auto& [key, field] : s.profile) {
    auto& out = (*m.mutable_profile())[key];
    out.set_value(field.value);
    out.set_at_us(Us(field.at));
  }
  if (s.partition >= 0) m.set_partition(s.partition);
  StoredAlert* alert = m.mutable_alert();
  alert->set_open(s.alert.open);
  alert->set_raised(s.alert.raised);
  SetOptional(s.alert.raised_at, [&](std::int64_t v) { alert->set_raised_at_us(v); });
  alert->set_last_churn(s.alert.last_churn);
  alert->set_last_segment(std::string(SegmentName(s.alert.last_segment)));
  SetOptional(s.alert.looked_at, [&](std::int64_t v) { alert->set_looked_at_us(v); });
  SetOptional(s.alert.next_look, [&](std::int64_t v) { alert->set_next_look_us(v); });
  if (s.alert.indexed_churn) alert->set_indexed_churn(*s.alert.indexed_churn);
  alert->set_control(s.alert.control);
  EncodeFollowUps(s.alert.follow_ups, *alert);
  for (const auto& [product, probability] : s.alert.indexed_appetence) {
    (*m.mutable_indexed_appetence())[product] = probability;
  }
  const auto& ring = s.recent_events.ring();
  m.mutable_recent_event_hashes()->Add(ring.begin(), ring.end());
  m.set_recent_event_next(static_cast<std::uint32_t>(s.recent_events.next()));
  // Deterministic (maps in key order): the same state is always the same bytes.
  std::string bytes(m.ByteSizeLong(), '\0');
  {
    google::protobuf::io::ArrayOutputStream array(bytes.data(), static_cast<int>(bytes.size()));
    google::protobuf::io::CodedOutputStream coded(&array);
    coded.SetSerializationDeterministic(true);
    m.SerializeWithCachedSizes(&coded);
  }
  return bytes;
}

absl::StatusOr<std::optional<Timestamp>> NextLookOf(std::string_view bytes) {
  using google::protobuf::internal::WireFormatLite;
  // Field numbers of crm.internal.StoredCustomer.alert and StoredAlert.next_look_us.
  constexpr int kAlertField = 24;
  constexpr int kNextLookField = 7;
  google::protobuf::io::CodedInputStream in(reinterpret_cast<const std::uint8_t*>(bytes.data()),
                                            static_cast<int>(bytes.size()));
  std::optional<Timestamp> next_look;
  const absl::Status unreadable = absl::DataLossError("stored customer record does not parse");
  // The alert is read where it comes, and wherever it comes again (a parser
  // merges repeated messages: the last value set wins).
  for (std::uint32_t tag = in.ReadTag(); tag != 0; tag = in.ReadTag()) {
    if (WireFormatLite::GetTagFieldNumber(tag) != kAlertField ||
        WireFormatLite::GetTagWireType(tag) != WireFormatLite::WIRETYPE_LENGTH_DELIMITED) {
      if (!WireFormatLite::SkipField(&in, tag)) return unreadable;
      continue;
    }
    std::uint32_t length = 0;
    if (!in.ReadVarint32(&length)) return unreadable;
    const auto limit = in.PushLimit(static_cast<int>(length));
    for (std::uint32_t field = in.ReadTag(); field != 0; field = in.ReadTag()) {
      if (WireFormatLite::GetTagFieldNumber(field) == kNextLookField &&
          WireFormatLite::GetTagWireType(field) == WireFormatLite::WIRETYPE_VARINT) {
        std::uint64_t zigzag = 0;
        if (!in.ReadVarint64(&zigzag)) return unreadable;
        next_look = FromMicros(WireFormatLite::ZigZagDecode64(zigzag));
      } else if (!WireFormatLite::SkipField(&in, field)) {
        return unreadable;
      }
    }
    if (!in.ConsumedEntireMessage()) return unreadable;
    in.PopLimit(limit);
  }
  if (!in.ConsumedEntireMessage()) return unreadable;
  return next_look;
}

absl::StatusOr<CustomerState> DecodeState(std::string_view bytes) {
  StoredCustomer& m = Scratch();
  if (!m.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::DataLossError("stored customer record does not parse");
  }
  CustomerState s;
  s.events_applied = m.events_applied();
  if (m.has_first_seen_us()) s.first_seen = FromMicros(m.first_seen_us());
  if (m.has_last_seen_us()) s.last_seen = FromMicros(m.last_seen_us());
  if (m.has_first_purchase_us()) s.first_purchase = FromMicros(m.first_purchase_us());
  if (m.has_last_purchase_us()) s.last_purchase = FromMicros(m.last_purchase_us());
  s.purchases = m.purchases();
  s.purchase_days.assign(m.purchase_days().begin(), m.purchase_days().end());
  s.purchase_amount = m.purchase_amount();
  s.first_day_amount = m.first_day_amount();
  s.returns = m.returns();
  s.return_amount = m.return_amount();
  s.complaints = m.complaints();
  for (std::int64_t us : m.recent_complaints_us()) s.recent_complaints.push_back(FromMicros(us));
  s.surveys = m.surveys();
  for (const auto& sample : m.recent_satisfaction()) {
    s.recent_satisfaction.push_back({FromMicros(sample.at_us()), sample.score()});
  }
  s.cancellations = m.cancellations();
  if (m.has_last_cancellation_us()) s.last_cancellation = FromMicros(m.last_cancellation_us());
  s.campaign_responses = m.campaign_responses();
  s.campaign_contacts = m.campaign_contacts();
  for (std::int64_t us : m.recent_campaign_contacts_us()) {
    s.recent_campaign_contacts.push_back(FromMicros(us));
  }
  for (const auto& channel : m.channels()) {
    if (channel.channel() >= static_cast<std::uint32_t>(kChannelCount)) {
      return absl::DataLossError("stored customer record names an unknown channel");
    }
    ChannelStats& stats = s.channels[channel.channel()];
    stats.contacts = channel.contacts();
    stats.recent_activity = channel.recent_activity();
    stats.usual_activity = channel.usual_activity();
    if (channel.has_last_contact()) stats.last_contact = FromMicros(channel.last_contact_us());
    if (channel.has_consent()) stats.consent = channel.consent();
    if (channel.has_consent_at_us()) stats.consent_at = FromMicros(channel.consent_at_us());
  }
  for (const auto& p : m.products()) {
    ProductStats& stats = s.products[p.product()];
    stats = ProductStats{p.purchases(), p.interactions(), p.returns(), p.cancellations(),
                         FromMicros(p.last_at_us())};
    if (p.has_last_interaction_us()) stats.last_interaction = FromMicros(p.last_interaction_us());
  }
  for (const auto& [key, field] : m.profile()) {
    s.profile[key] = ProfileField{field.value(), FromMicros(field.at_us())};
  }
  s.partition = m.has_partition() ? m.partition() : -1;
  const StoredAlert& alert = m.alert();
  s.alert.open = alert.open();
  s.alert.raised = alert.raised();
  if (alert.has_raised_at_us()) s.alert.raised_at = FromMicros(alert.raised_at_us());
  s.alert.last_churn = alert.last_churn();
  const std::optional<Segment> segment = ParseSegment(alert.last_segment());
  if (!segment) {
    return absl::DataLossError("stored customer record names an unknown segment '" +
                               BoundedText(alert.last_segment(), 64) + "'");
  }
  s.alert.last_segment = *segment;
  if (alert.has_looked_at_us()) s.alert.looked_at = FromMicros(alert.looked_at_us());
  if (alert.has_indexed_churn()) s.alert.indexed_churn = alert.indexed_churn();
  s.alert.control = alert.control();
  if (absl::Status followed = DecodeFollowUps(alert, s.alert.follow_ups); !followed.ok()) {
    return followed;
  }
  for (const auto& [product, probability] : m.indexed_appetence()) {
    if (!(probability >= 0 && probability <= 1)) {
      return absl::DataLossError("stored customer record indexes an appetence outside 0-1");
    }
    s.alert.indexed_appetence.emplace(product, probability);
  }
  if (alert.has_next_look_us()) {
    s.alert.next_look = FromMicros(alert.next_look_us());
  }
  s.recent_events.Restore({m.recent_event_hashes().begin(), m.recent_event_hashes().end()},
                          m.recent_event_next());
  return s;
}

std::string EncodePartition(const PartitionState& state) {
  internal::StoredPartition stored;
  if (state.next_offset) stored.set_next_offset(*state.next_offset);
  if (state.watermark) stored.set_watermark_us(ToMicros(*state.watermark));
  stored.set_open_alerts(state.open_alerts);
  stored.set_epoch(state.epoch);
  stored.set_seq(state.seq);
  if (state.parent) {
    stored.set_parent_epoch(state.parent->epoch);
    stored.set_parent_seq(state.parent->seq);
  }
  if (state.changelog_offset) stored.set_changelog_offset(*state.changelog_offset);
  if (state.checkpoint_at) stored.set_checkpoint_at_us(ToMicros(*state.checkpoint_at));
  for (const auto& [hash, erased_at] : state.erasure_fences) {
    stored.add_fence_hashes(hash);
    stored.add_fence_erased_at_us(ToMicros(erased_at));
  }
  return stored.SerializeAsString();
}

absl::StatusOr<PartitionState> DecodePartition(std::string_view bytes) {
  internal::StoredPartition stored;
  if (!stored.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::DataLossError("unreadable partition record");
  }
  PartitionState state;
  if (stored.has_next_offset()) state.next_offset = stored.next_offset();
  if (stored.has_watermark_us()) state.watermark = FromMicros(stored.watermark_us());
  state.open_alerts = stored.open_alerts();
  state.epoch = stored.epoch();
  state.seq = stored.seq();
  if (stored.has_parent_epoch())
    state.parent = ChangelogStamp{stored.parent_epoch(), stored.parent_seq()};
  if (stored.has_changelog_offset()) state.changelog_offset = stored.changelog_offset();
  if (stored.has_checkpoint_at_us()) state.checkpoint_at = FromMicros(stored.checkpoint_at_us());
  if (stored.fence_hashes_size() != stored.fence_erased_at_us_size() ||
      static_cast<std::size_t>(stored.fence_hashes_size()) > kMaxErasureFences) {
    return absl::DataLossError("partition record: erasure fences are not pairs, or too many");
  }
  for (int i = 0; i < stored.fence_hashes_size(); ++i) {
    state.erasure_fences[stored.fence_hashes(i)] = FromMicros(stored.fence_erased_at_us(i));
  }
  return state;
}

std::string EncodeRecentTouchpoint(const Touchpoint& touchpoint) {
  thread_local v1::Touchpoint message;
  message.Clear();
  ToProto(touchpoint, &message);
  message.clear_customer_id();
  message.clear_attributes();
  return message.SerializeAsString();
}

absl::StatusOr<Touchpoint> DecodeRecentTouchpoint(std::string_view bytes,
                                                  const CustomerId& customer) {
  v1::Touchpoint message;
  if (!message.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::DataLossError("unreadable recent touchpoint in the data dir");
  }
  std::variant<Touchpoint, Rejection> decoded = FromProto(message);
  if (const auto* rejection = std::get_if<Rejection>(&decoded)) {
    return absl::DataLossError("unreadable recent touchpoint in the data dir: " +
                               rejection->detail());
  }
  Touchpoint touchpoint = std::get<Touchpoint>(std::move(decoded));
  touchpoint.customer_id = customer;
  return touchpoint;
}

std::string EncodeFollowUpRecord(const AlertFollowUp& follow_up) {
  internal::StoredFollowUp stored;
  EncodeFollowUp(follow_up, stored);
  return stored.SerializeAsString();
}

absl::StatusOr<AlertFollowUp> DecodeFollowUpRecord(std::string_view bytes) {
  internal::StoredFollowUp stored;
  if (!stored.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::DataLossError("unreadable follow-up in the outcome index");
  }
  return DecodeFollowUp(stored);
}

}  // namespace crm
