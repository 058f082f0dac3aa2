#pragma once
// GET /metrics: Prometheus text exposition of the engine's statistics under vLLM's metric names,
// so existing vLLM dashboards work unchanged.
#include <string>

#include "engine/engine_stats.h"

namespace pagellm::server {

std::string prometheus_metrics(const EngineStats& stats, const std::string& model_name);

}  // namespace pagellm::server
