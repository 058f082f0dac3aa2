#include "model/weight_coding.h"

#include "util/error.h"

namespace pagellm {

WeightCoding parse_weight_coding(const std::string& name) {
  if (name == "auto") return WeightCoding::kAuto;
  if (name == "on") return WeightCoding::kOn;
  if (name == "off") return WeightCoding::kOff;
  fail(ErrorCode::kInvalidArgument, "--weight-coding must be auto, on or off, not '{}'", name);
}

}  // namespace pagellm
