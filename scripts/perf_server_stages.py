#!/usr/bin/env python3
"""Where a pagellm server's CPU time goes, by stage, from a perf profile.

    perf record -F 999 --call-graph dwarf,16384 -p $(pidof pagellm) -o server.perf -- sleep 5
    perf script -i server.perf -F tid,ip,sym > server.script
    python3 scripts/perf_server_stages.py server.script

Each sample's call stack is assigned to its thread's role (engine loop, kernel workers, HTTP
workers, listener) and then to the first stage whose frames it contains, so the stages add up to
100% of the samples. See docs/perf/server.md.
"""
import collections
import re
import sys

ROLES = [
    ("engine thread", r"AsyncEngine::loop"),
    ("kernel worker threads", r"kernels::ThreadPool::worker_loop"),
    ("HTTP worker threads", r"httplib::ThreadPool::worker"),
    ("listener (accept)", r"listen_internal"),
]
# Most specific first: a sample counts for the first stage it matches.
STAGES = {
    "engine thread": [
        ("model forward", r"LlamaModel::forward"),
        ("sampling", r"sample_token|argmax_token|compute_logprobs"),
        ("output processing (detokenize, stops)", r"OutputProcessor::"),
        ("scheduling", r"Scheduler::"),
        ("adding requests", r"EngineCore::add_request"),
        ("handing outputs to streams", r"RequestStream::push"),
        ("other step work", r"EngineCore::step"),
        ("waiting for work", r"pthread_cond_wait|__futex_abstimed_wait|futex_wait"),
        ("waking HTTP threads, locks", r"futex_wake|pthread_cond_broadcast|pthread_cond_signal|pthread_mutex"),
    ],
    "kernel worker threads": [("spinning / waiting for work", r".")],
    "HTTP worker threads": [
        ("read + parse request line, headers, body",
         r"read_headers|parse_request_line|read_content|detail::read_line|stream_line_reader"),
        ("JSON parse", r"parse_request_body"),
        ("tokenize", r"Tokenizer::encode"),
        ("sampling params", r"parse_sampling_params|SamplingParams::"),
        ("submit to the engine", r"GenerationGroup::submit|AsyncEngine::add_request"),
        ("wait for the engine", r"GenerationGroup::next|RequestStream::next"),
        ("response JSON", r"final_response|dump_json|usage_json|stream_chunks"),
        ("write the response", r"write_response|write_data|SocketStream::write|detail::write_"),
        ("keep-alive poll, close", r"keep_alive|select_read|close_socket|shutdown_socket"),
        ("routing, handler bookkeeping", r"process_request|ApiServer::handle|handle_completions"),
        ("httplib job queue (waiting for a connection)", r"."),
    ],
    "listener (accept)": [("accept, hand to a worker", r".")],
}


def read_stacks(path):
    stacks, cur = [], None
    for line in open(path, errors="replace"):
        if not line.strip():
            if cur:
                stacks.append("\n".join(cur))
            cur = None
        elif line[0] not in " \t":
            cur = []
        elif cur is not None:
            parts = line.strip().split(" ", 1)
            cur.append(parts[1] if len(parts) > 1 else "?")
    if cur:
        stacks.append("\n".join(cur))
    return stacks


def main():
    stacks = read_stacks(sys.argv[1])
    roles, stages = collections.Counter(), collections.Counter()
    for s in stacks:
        role = next((r for r, p in ROLES if re.search(p, s)), "other")
        roles[role] += 1
        stage = next((n for n, p in STAGES.get(role, []) if re.search(p, s)), "other")
        stages[(role, stage)] += 1
    total = max(1, len(stacks))
    print(f"{len(stacks)} samples")
    for role in [r for r, _ in ROLES] + ["other"]:
        if roles[role]:
            print(f"{role:48s} {100 * roles[role] / total:5.1f}%")
            for (r, stage), n in stages.most_common():
                if r == role:
                    print(f"    {stage:44s} {100 * n / total:5.1f}%")


if __name__ == "__main__":
    main()
