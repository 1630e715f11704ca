#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <utility>

namespace crm {

// The customer's identifier, as the Kafka key and the proto field carry it.
// A distinct type so that ids are never confused with event ids or products.
class CustomerId {
 public:
  CustomerId() = default;
  explicit CustomerId(std::string value) : value_(std::move(value)) {}

  const std::string& value() const { return value_; }
  bool empty() const { return value_.empty(); }

  friend bool operator==(const CustomerId&, const CustomerId&) = default;
  friend auto operator<=>(const CustomerId&, const CustomerId&) = default;

 private:
  std::string value_;
};

}  // namespace crm

template <>
struct std::hash<crm::CustomerId> {
  std::size_t operator()(const crm::CustomerId& id) const noexcept {
    return std::hash<std::string>{}(id.value());
  }
};
