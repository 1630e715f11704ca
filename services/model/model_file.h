#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "core/model.h"

namespace crm {

// The model file (proto/crm/v1/model.proto, as JSON): parsing, validation and
// writing. Sections left out of a file keep the built-in defaults.

// Parses and validates a model file's text; InvalidArgument says what is wrong.
absl::StatusOr<Model> ParseModelJson(std::string_view json);

// Reads, parses and validates the file at `path`; errors name the path.
absl::StatusOr<Model> LoadModelFile(const std::string& path);

// The model as a model file's text (pretty-printed JSON), with `description`.
std::string ModelToJson(const Model& model, std::string_view description = "");

}  // namespace crm
