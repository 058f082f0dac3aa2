#!/usr/bin/env bash
# Installs every Debian package (and npm test client) that building and testing pagellm needs.
# Idempotent: packages already present are skipped quickly.
set -euo pipefail

APT_PACKAGES=(
  build-essential cmake ninja-build pkg-config git clang-format
  libgtest-dev libgmock-dev libbenchmark-dev
  nlohmann-json3-dev libcli11-dev libfmt-dev
  libpcre2-dev libutf8proc-dev libsimde-dev
  libcpp-httplib-dev libssl-dev zlib1g-dev libbrotli-dev
  python3 python3-numpy python3-jinja2
  libopenblas-dev libdnnl-dev
)
# Node.js with npm: the machine's nodejs (it bundles npm) is used when present; else Debian's.
command -v npm >/dev/null 2>&1 || APT_PACKAGES+=(nodejs npm)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  echo "install-deps: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Node test clients (end-to-end tests and reference tokenizers), pinned in tests/node/package.json.
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -f "$root/tests/node/package-lock.json" ] && [ ! -d "$root/tests/node/node_modules/openai" ]; then
  (cd "$root/tests/node" && npm ci --no-audit --no-fund --silent)
fi
echo "install-deps: done"
