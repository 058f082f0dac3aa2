#!/usr/bin/env python3
"""Where a running pagellm's resident memory is, from /proc/PID/smaps (python3 stdlib only).

usage: rss_breakdown.py PID [--model FILE] [--json]

Groups the resident pages of every mapping into:
  model file   the mmapped weights file (--model; default: any mapped *.gguf / *.safetensors)
  large anon   anonymous mappings of at least 1 MiB: pagellm's AlignedBuffers, i.e. the packed
               weights, the KV cache (only its touched pages), GGUF Q/K un-permuted copies and the
               activation scratch. The kernel merges adjacent anonymous mappings into one, so these
               cannot be told apart here; subtract the sizes the model and the start-up log give.
  heap + small the [heap] and smaller anonymous mappings (malloc arenas, thread stacks)
  binary, libs other file-backed mappings (code and read-only data)
and prints VmRSS / VmHWM beside them.
"""
import argparse
import collections
import json
import re
import sys

MIB = 1 << 20


def read_mappings(pid):
    maps, cur = [], None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            m = re.match(r"^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)$", line)
            if m:
                cur = {"size": int(m.group(2), 16) - int(m.group(1), 16), "path": m.group(3).strip(), "rss": 0}
                maps.append(cur)
            elif line.startswith("Rss:") and cur is not None:
                cur["rss"] = int(line.split()[1]) * 1024
    return maps


def status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                out[line.split(":")[0]] = int(line.split()[1]) * 1024
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("pid", type=int)
    ap.add_argument("--model", help="path of the mapped weights file")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()

    maps = read_mappings(a.pid)
    cats = collections.OrderedDict((k, 0) for k in ("model file", "large anon", "heap + small", "binary, libs"))
    for m in maps:
        p = m["path"]
        if (a.model and p == a.model) or (not a.model and re.search(r"\.(gguf|safetensors)$", p)):
            cats["model file"] += m["rss"]
        elif p == "" and m["size"] >= MIB:
            cats["large anon"] += m["rss"]
        elif p == "" or p.startswith("["):
            cats["heap + small"] += m["rss"]
        else:
            cats["binary, libs"] += m["rss"]
    st = status(a.pid)
    result = {"VmRSS_MiB": st.get("VmRSS", 0) / MIB, "VmHWM_MiB": st.get("VmHWM", 0) / MIB,
              **{k + "_MiB": v / MIB for k, v in cats.items()}}
    if a.json:
        print(json.dumps(result))
        return
    print(f"VmRSS {result['VmRSS_MiB']:.1f} MiB, VmHWM {result['VmHWM_MiB']:.1f} MiB")
    for k, v in cats.items():
        print(f"  {k:<14}{v / MIB:9.1f} MiB")


if __name__ == "__main__":
    sys.exit(main())
