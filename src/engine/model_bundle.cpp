#include "engine/model_bundle.h"

#include <algorithm>

#include "kernels/cpu/amx_matmul.h"
#include "loader/gguf.h"
#include "util/logging.h"

namespace pagellm {

ModelBundle load_model_bundle(const std::string& path, ComputeDType dtype, bool code_weights) {
  ModelBundle bundle;
  std::shared_ptr<LoadedModel> files = load_model(path);
  bundle.tokenizer = files->gguf ? Tokenizer::from_gguf(*files->gguf) : Tokenizer::from_hf(files->hf_dir);
  bundle.files = files;
  const kernels::MatmulPrecision precision = resolve_matmul_precision(dtype, *bundle.files);
  log_info("compute dtype: {}{} ({}{})", matmul_precision_name(precision),
           precision == kernels::MatmulPrecision::kInt8 ? " for Q8_0 weights, else float32" : "",
           dtype == ComputeDType::kAuto ? "auto, " : "",
           precision == kernels::MatmulPrecision::kInt8 && kernels::cpu_has_avx512_vnni() ? "AVX-512 VNNI"
           : precision == kernels::MatmulPrecision::kInt8 && kernels::cpu_has_avx2()      ? "AVX2"
           : precision == kernels::MatmulPrecision::kBF16 && kernels::amx::available()    ? "AMX tiles"
           : kernels::cpu_has_avx512_bf16()                                               ? "AVX-512"
           : kernels::cpu_has_avx2()                                                      ? "AVX2"
                                                                                          : "portable kernels");
  bundle.model = std::make_shared<LlamaModel>(bundle.files, precision, code_weights);
  if (bundle.model->weights_coded())
    log_info("BF16 weights stored coded, 13 bits a value (--weight-coding)");
  else if (code_weights)
    log_info("BF16 weights stay raw (coding needs BF16 weights computed in bfloat16 on AVX-512 VBMI, no AMX)");
  return bundle;
}

std::vector<int32_t> ModelBundle::eos_token_ids() const {
  std::vector<int32_t> ids = files->generation.eos_token_ids;
  ids.insert(ids.end(), files->config.eos_token_ids.begin(), files->config.eos_token_ids.end());
  if (tokenizer->eos_token_id() >= 0) ids.push_back(tokenizer->eos_token_id());
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

}  // namespace pagellm
