#pragma once
// The tensors a ModelConfig implies (canonical names, shapes, which are optional) and the check
// of a file's tensors against them, so a wrong file fails at load with a message naming the
// tensor, its shape and the config field it contradicts.
#include <map>
#include <string>
#include <vector>

#include "model/model_config.h"
#include "tensor/tensor_view.h"

namespace pagellm {

struct ExpectedTensor {
  std::string name;
  std::vector<int64_t> shape;
  bool required = true;
  std::string because;  // the config fields the shape comes from, for error messages
};

std::vector<ExpectedTensor> expected_tensors(const ModelConfig& config);

// Throws Error(kInvalidModel) naming `source` and the tensor (and, when `origin` maps the
// canonical name to a different name in the file, that name too) for a missing required
// tensor, a wrong shape or an unsupported dtype (vectors must be F32/F16/BF16).
void check_tensors(const std::map<std::string, TensorView>& tensors, const std::vector<ExpectedTensor>& expected,
                   const std::string& source, const std::map<std::string, std::string>& origin = {});

}  // namespace pagellm
