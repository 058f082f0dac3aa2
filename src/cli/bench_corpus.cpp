#include "cli/bench_corpus.h"

#include <algorithm>
#include <filesystem>

#include "util/error.h"
#include "util/json_file.h"

namespace pagellm::cli {
namespace {

void collect_json_strings(const Json& j, std::string& out) {
  if (j.is_object()) {
    for (const auto& [key, value] : j.items()) {
      if ((key == "text" || key == "prompt") && value.is_string())
        out += value.get<std::string>() + "\n";
      else
        collect_json_strings(value, out);
    }
  } else if (j.is_array()) {
    for (const Json& v : j) collect_json_strings(v, out);
  }
}

std::string read_source(const std::filesystem::path& p) {
  if (p.extension() == ".json") {
    std::string out;
    try {
      collect_json_strings(read_json_file(p.string()), out);
    } catch (const Error&) {
    }
    return out;
  }
  if (p.extension() == ".gguf" || p.extension() == ".model" || p.extension() == ".out") return "";
  return read_text_file(p.string());
}

}  // namespace

std::string build_mixed_corpus(const std::vector<std::string>& sources, size_t target_bytes) {
  std::vector<std::string> texts;
  for (const std::string& source : sources) {
    std::vector<std::filesystem::path> files;
    if (std::filesystem::is_directory(source)) {
      for (const auto& e : std::filesystem::recursive_directory_iterator(source))
        if (e.is_regular_file()) files.push_back(e.path());
    } else if (std::filesystem::exists(source)) {
      files.emplace_back(source);
    }
    std::sort(files.begin(), files.end());
    std::string text;  // one stream per source, so each kind of text gets an equal share
    for (const auto& f : files) text += read_source(f);
    if (!text.empty()) texts.push_back(std::move(text));
  }
  if (texts.empty()) fail(ErrorCode::kNotFound, "no corpus text found in the given sources");
  std::string corpus;
  std::vector<size_t> offsets(texts.size(), 0);
  for (size_t i = 0; corpus.size() < target_bytes; i = (i + 1) % texts.size()) {
    const std::string& t = texts[i];
    size_t& at = offsets[i];
    const std::string window = t.substr(at, std::min<size_t>(8192, t.size() - at));
    const std::vector<std::string_view> pieces = split_requests(window);
    const std::string_view piece = pieces.empty() ? std::string_view() : pieces.front();
    corpus.append(piece);
    at = at + piece.size() >= t.size() ? 0 : at + piece.size();
  }
  return corpus;
}

std::vector<std::string_view> split_requests(const std::string& corpus, size_t size) {
  std::vector<std::string_view> out;
  for (size_t start = 0; start < corpus.size();) {
    size_t end = std::min(start + size, corpus.size());
    while (end < corpus.size() && end > start + 1 && (static_cast<unsigned char>(corpus[end]) & 0xc0) == 0x80) --end;
    out.emplace_back(corpus.data() + start, end - start);
    start = end;
  }
  return out;
}

}  // namespace pagellm::cli
