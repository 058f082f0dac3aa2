#pragma once
// The tokenizer benchmark's corpus: English prose, code and many scripts (CJK, Cyrillic, Arabic,
// emoji...) mixed in 4 KiB pieces, built the same way on every machine from files every checkout
// and Debian system has.
#include <string>
#include <vector>

namespace pagellm::cli {

// Reads every regular file under each source (directories walked in sorted order; from JSON
// files only the "text" / "prompt" strings), then takes 4 KiB pieces from each source in turn,
// so each source is an equal share, until `target_bytes`.
std::string build_mixed_corpus(const std::vector<std::string>& sources, size_t target_bytes);

// 4 KiB requests cut at UTF-8 character starts (bench/tokenizer_hf.mjs cuts the same way).
std::vector<std::string_view> split_requests(const std::string& corpus, size_t size = 4096);

}  // namespace pagellm::cli
