#include "server/metrics.h"

#include <fmt/format.h>

namespace pagellm::server {
namespace {

class Exposition {
 public:
  explicit Exposition(const std::string& model) : labels_(fmt::format("model_name=\"{}\"", escape(model))) {}

  void gauge(const char* name, const char* help, double value) {
    header(name, help, "gauge");
    out_ += fmt::format("{}{{{}}} {}\n", name, labels_, value);
  }
  void counter(const char* name, const char* help, double value) {
    header(name, help, "counter");
    out_ += fmt::format("{}_total{{{}}} {}\n", name, labels_, value);
  }
  void labelled_counter(const char* name, const char* help, const char* label,
                        const std::map<std::string, int64_t>& values, std::initializer_list<const char*> always) {
    header(name, help, "counter");
    std::map<std::string, int64_t> all = values;
    for (const char* key : always) all.emplace(key, 0);
    for (const auto& [key, value] : all)
      out_ += fmt::format("{}_total{{{},{}=\"{}\"}} {}\n", name, labels_, label, escape(key), value);
  }
  void histogram(const char* name, const char* help, const Histogram& h) {
    header(name, help, "histogram");
    const std::vector<int64_t> cumulative = h.cumulative_counts();
    for (size_t i = 0; i < h.upper_bounds().size(); ++i)
      out_ += fmt::format("{}_bucket{{{},le=\"{}\"}} {}\n", name, labels_, h.upper_bounds()[i], cumulative[i]);
    out_ += fmt::format("{}_bucket{{{},le=\"+Inf\"}} {}\n", name, labels_, cumulative.back());
    out_ += fmt::format("{}_sum{{{}}} {}\n", name, labels_, h.sum());
    out_ += fmt::format("{}_count{{{}}} {}\n", name, labels_, h.count());
  }
  std::string take() { return std::move(out_); }

 private:
  static std::string escape(const std::string& s) {
    std::string out;
    for (char c : s) {
      if (c == '\\' || c == '"') out += '\\';
      if (c == '\n') {
        out += "\\n";
        continue;
      }
      out += c;
    }
    return out;
  }
  void header(const char* name, const char* help, const char* type) {
    out_ += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
  }
  std::string labels_;
  std::string out_;
};

}  // namespace

std::string prometheus_metrics(const EngineStats& s, const std::string& model_name) {
  Exposition e(model_name);
  e.gauge("vllm:num_requests_running", "Number of requests in model execution batches.",
          static_cast<double>(s.num_running));
  e.gauge("vllm:num_requests_waiting", "Number of requests waiting to be processed.",
          static_cast<double>(s.num_waiting));
  e.gauge("vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.", s.kv_cache_usage);
  e.counter("vllm:prefix_cache_queries", "Prefix cache queries, in terms of number of queried tokens.",
            static_cast<double>(s.prefix_cache_queries));
  e.counter("vllm:prefix_cache_hits", "Prefix cache hits, in terms of number of cached tokens.",
            static_cast<double>(s.prefix_cache_hits));
  e.counter("vllm:num_preemptions", "Cumulative number of preemptions from the engine.",
            static_cast<double>(s.num_preemptions));
  e.counter("vllm:prompt_tokens", "Number of prefill tokens processed.", static_cast<double>(s.prompt_tokens));
  e.counter("vllm:generation_tokens", "Number of generation tokens processed.",
            static_cast<double>(s.generation_tokens));
  e.labelled_counter("vllm:request_success", "Count of successfully processed requests.", "finished_reason",
                     s.request_success, {"stop", "length", "abort"});
  e.histogram("vllm:time_to_first_token_seconds", "Histogram of time to first token in seconds.",
              s.time_to_first_token);
  e.histogram("vllm:inter_token_latency_seconds", "Histogram of inter-token latency in seconds.",
              s.inter_token_latency);
  e.histogram("vllm:e2e_request_latency_seconds", "Histogram of e2e request latency in seconds.",
              s.e2e_request_latency);
  return e.take();
}

}  // namespace pagellm::server
