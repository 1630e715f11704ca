#include "tools/demo/population.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>

namespace crm::demo {
namespace {

constexpr std::array<std::string_view, 12> kCatalogue = {
    "MOBILE-PLAN", "FIBRE-BOX",  "TV-PACK",   "INSURANCE",  "SMARTPHONE", "TABLET",
    "SMARTWATCH",  "HEADPHONES", "STREAMING", "CLOUD-100G", "ROAMING-EU", "REPAIR-CARE"};

// Persona shares, per 100 customers.
constexpr std::array<int, kPersonaCount> kShares = {30, 20, 15, 15, 20};

}  // namespace

std::string_view PersonaName(Persona persona) {
  static constexpr std::array<std::string_view, kPersonaCount> kNames = {
      "loyal", "declining", "complaining", "new", "occasional"};
  return kNames[static_cast<std::size_t>(persona)];
}

Population::Population(PopulationOptions options) : options_(options), rng_(options.seed) {
  std::uniform_real_distribution<double> unit(0, 1);
  for (int i = 0; i < options_.customers; ++i) {
    Customer customer;
    customer.persona = PersonaOf(i);
    char id[48];
    std::snprintf(id, sizeof(id), "%s-%06d", PersonaName(customer.persona).data(), i);
    customer.id = id;
    double first_day = unit(rng_) * 7;
    if (customer.persona == Persona::kNew) first_day = 20 + unit(rng_) * 100;
    if (customer.persona == Persona::kDeclining) {
      customer.decline_at = options_.start + FromDays(40 + unit(rng_) * 60);
    }
    customers_.push_back(customer);
    due_.push({options_.start + FromDays(first_day), i});
  }
}

Persona Population::PersonaOf(int customer) const {
  int slot = customer % 100;
  for (int p = 0; p < kPersonaCount; ++p) {
    if (slot < kShares[p]) return static_cast<Persona>(p);
    slot -= kShares[p];
  }
  return Persona::kOccasional;
}

std::string Population::CustomerOf(Persona persona, int index) const {
  int seen = 0;
  for (const Customer& customer : customers_) {
    if (customer.persona == persona && seen++ == index) return customer.id;
  }
  return {};
}

Channel Population::PickChannel(std::initializer_list<std::pair<Channel, int>> weights) {
  int total = 0;
  for (const auto& [channel, weight] : weights) total += weight;
  int draw = std::uniform_int_distribution<int>(0, total - 1)(rng_);
  for (const auto& [channel, weight] : weights) {
    if (draw < weight) return channel;
    draw -= weight;
  }
  return weights.begin()->first;
}

std::string Population::PickWish(Customer& customer) {
  if (customer.wish < 0) {
    customer.wish = std::uniform_int_distribution<int>(0, kCatalogue.size() - 1)(rng_);
  }
  if (std::uniform_real_distribution<double>(0, 1)(rng_) < 0.3) return PickProduct();
  return std::string(kCatalogue[customer.wish]);
}

static std::string_view CategoryOf(std::string_view product) {
  const auto it = std::find(kCatalogue.begin(), kCatalogue.end(), product);
  static constexpr std::array<std::string_view, 4> kCategories = {"subscription", "device",
                                                                  "accessory", "service"};
  return kCategories[static_cast<std::size_t>(it - kCatalogue.begin()) / 3 % 4];
}

std::string Population::PickProduct() {
  return std::string(
      kCatalogue[std::uniform_int_distribution<std::size_t>(0, kCatalogue.size() - 1)(rng_)]);
}

double Population::DaysToNext(const Customer& customer, Timestamp at) {
  // Mean days between touchpoints, by persona (and phase, for the declining).
  double mean = 4;
  switch (customer.persona) {
    case Persona::kLoyal:
      mean = 3;
      break;
    case Persona::kDeclining:
      mean = at < customer.decline_at ? 3 : 20;
      break;
    case Persona::kComplaining:
      mean = 4;
      break;
    case Persona::kNew:
      mean = 2.5;
      break;
    case Persona::kOccasional:
      mean = 12;
      break;
  }
  return std::exponential_distribution<double>(1.0 / mean)(rng_);
}

Touchpoint Population::Generate(Customer& customer, Timestamp at) {
  std::uniform_real_distribution<double> unit(0, 1);
  Touchpoint tp;
  tp.event_id = "demo-" + std::to_string(options_.seed) + "-" + std::to_string(serial_++);
  tp.customer_id = CustomerId(customer.id);
  tp.occurred_at = at;
  const double draw = unit(rng_);
  auto purchase = [&](double min_amount, double max_amount) {
    tp.type = TouchpointType::kPurchase;
    tp.channel = PickChannel({{Channel::kWeb, 4},
                              {Channel::kMobile, 3},
                              {Channel::kKiosk, 1},
                              {Channel::kFaceToFace, 2}});
    tp.amount = std::round((min_amount + unit(rng_) * (max_amount - min_amount)) * 100) / 100;
    tp.product = PickWish(customer);
    if (tp.product == kCatalogue[customer.wish]) customer.wish = -1;  // fulfilled
    tp.attributes = {{"category", std::string(CategoryOf(tp.product))}};
    ++customer.purchases;
  };
  auto contact = [&](std::initializer_list<std::pair<Channel, int>> channels) {
    tp.type = TouchpointType::kContact;
    tp.channel = PickChannel(channels);
    tp.product = PickWish(customer);
  };
  auto survey = [&](int lo, int hi) {
    tp.type = TouchpointType::kSurvey;
    tp.channel = PickChannel({{Channel::kEmail, 3}, {Channel::kSms, 1}, {Channel::kWeb, 1}});
    tp.satisfaction = std::uniform_int_distribution<int>(lo, hi)(rng_);
  };

  if (!customer.profiled && customer.persona != Persona::kNew) {
    customer.profiled = true;
    tp.type = TouchpointType::kProfile;
    tp.channel = Channel::kWeb;
    tp.attributes = {{"age_band", std::to_string(20 + 10 * (serial_ % 6))},
                     {"region", serial_ % 2 ? "north" : "south"}};
    return tp;
  }
  if (!customer.asked_consent) {  // at sign-up, most opt in to e-mail
    customer.asked_consent = true;
    if (unit(rng_) < 0.7) {
      tp.type = TouchpointType::kConsent;
      tp.channel = Channel::kEmail;
      tp.consent_granted = true;
      return tp;
    }
  }
  switch (customer.persona) {
    case Persona::kLoyal:
      if (draw < 0.22)
        purchase(20, 180);
      else if (draw < 0.80)
        contact({{Channel::kWeb, 5}, {Channel::kMobile, 4}, {Channel::kKiosk, 1}});
      else if (draw < 0.90)
        survey(8, 10);
      else if (draw < 0.97) {
        tp.type = TouchpointType::kCampaignResponse;
        tp.channel = PickChannel({{Channel::kEmail, 3}, {Channel::kMobile, 1}});
        tp.product = PickWish(customer);
      } else {
        tp.type = TouchpointType::kConsent;
        tp.channel = PickChannel({{Channel::kEmail, 1}, {Channel::kSms, 1}});
        tp.consent_granted = true;
      }
      break;
    case Persona::kDeclining:
      if (at < customer.decline_at) {
        if (draw < 0.25)
          purchase(20, 150);
        else if (draw < 0.90)
          contact({{Channel::kWeb, 4}, {Channel::kPhone, 1}, {Channel::kMobile, 3}});
        else
          survey(5, 9);
      } else if (draw < 0.15) {
        tp.type = TouchpointType::kReturn;
        tp.channel = PickChannel({{Channel::kFaceToFace, 1}, {Channel::kMail, 1}});
        tp.amount = std::round((10 + unit(rng_) * 60) * 100) / 100;
        tp.product = PickProduct();
      } else if (draw < 0.25) {
        tp.type = TouchpointType::kConsent;
        tp.channel = PickChannel({{Channel::kEmail, 2}, {Channel::kSms, 1}});
        tp.consent_granted = false;
      } else {
        contact({{Channel::kWeb, 3}, {Channel::kEmail, 1}});
      }
      break;
    case Persona::kComplaining:
      if (draw < 0.15)
        purchase(10, 90);
      else if (draw < 0.45) {
        tp.type = TouchpointType::kComplaint;
        tp.channel = PickChannel({{Channel::kPhone, 4}, {Channel::kEmail, 2}, {Channel::kMail, 1}});
        tp.product = PickProduct();
      } else if (draw < 0.65)
        survey(0, 4);
      else if (draw < 0.70) {
        tp.type = TouchpointType::kCancellation;
        tp.channel = Channel::kPhone;
        tp.product = PickProduct();
      } else {
        contact({{Channel::kPhone, 3}, {Channel::kWeb, 2}});
      }
      break;
    case Persona::kNew:
      if (customer.purchases == 0) {  // browsing, until a first purchase
        if (draw < 0.7) {
          contact({{Channel::kWeb, 4}, {Channel::kMobile, 2}, {Channel::kKiosk, 2}});
        } else {
          purchase(15, 120);
        }
      } else if (draw < 0.35) {
        purchase(15, 120);
      } else if (draw < 0.85) {
        contact({{Channel::kWeb, 3}, {Channel::kMobile, 3}});
      } else {
        tp.type = TouchpointType::kConsent;
        tp.channel = PickChannel({{Channel::kEmail, 2}, {Channel::kSms, 1}, {Channel::kPhone, 1}});
        tp.consent_granted = true;
      }
      break;
    case Persona::kOccasional:
      if (draw < 0.3)
        purchase(30, 250);
      else if (draw < 0.9)
        contact({{Channel::kWeb, 2}, {Channel::kKiosk, 1}, {Channel::kMail, 1}});
      else
        survey(5, 8);
      break;
  }
  return tp;
}

void Population::Inject(Touchpoint touchpoint) {
  if (has_last_) touchpoint.occurred_at = std::max(touchpoint.occurred_at, last_.occurred_at);
  injected_.push(std::move(touchpoint));
}

Touchpoint Population::Next() {
  std::uniform_real_distribution<double> unit(0, 1);
  if (has_last_ && unit(rng_) < options_.duplicate_rate) return last_;
  if (!injected_.empty() && injected_.top().occurred_at <= due_.top().at) {
    last_ = injected_.top();
    injected_.pop();
    return last_;
  }
  const Due due = due_.top();
  due_.pop();
  Customer& customer = customers_[due.customer];
  Touchpoint tp = Generate(customer, due.at);
  due_.push({due.at + FromDays(DaysToNext(customer, due.at)), due.customer});
  last_ = tp;
  has_last_ = true;
  return tp;
}

}  // namespace crm::demo
