#!/usr/bin/env bash
# Installs everything dlbricks needs on a fresh Debian 12 machine (run as root).
# Idempotent: a second run only checks and returns quickly.
#   scripts/setup.sh            build + test dependencies
#   scripts/setup.sh --corpus   also the torchvision exporter (python3-torchvision)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)

pkgs=(cmake g++ make pkg-config ninja-build
      libonnx-dev libprotobuf-dev protobuf-compiler
      libsqlite3-dev sqlite3 nlohmann-json3-dev libcli11-dev libfmt-dev
      libgtest-dev libgmock-dev libbenchmark-dev
      libopencv-dnn-dev
      chromium
      libtorch-dev libxgboost-dev
      ca-certificates)
[[ " $* " == *" --corpus "* ]] && pkgs+=(python3-torchvision python3-onnx python3-torch)

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

command -v npm >/dev/null || { export DEBIAN_FRONTEND=noninteractive; apt-get install -y -qq --no-install-recommends npm >/dev/null; }

# ONNX Runtime 1.30 (CPU) from npm: library from onnxruntime-node, C/C++ headers
# (API 29) from com.github.asus4.onnxruntime. See DESIGN.md "Real components".
ort="$here/third_party/onnxruntime"
if [[ ! -f "$ort/lib/libonnxruntime.so.1" || ! -f "$ort/include/onnxruntime_cxx_api.h" ]]; then
  echo "setup: fetching ONNX Runtime from npm"
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent onnxruntime-node@1.30.0 com.github.asus4.onnxruntime@0.4.9 >/dev/null)
  mkdir -p "$ort/lib" "$ort/include" "$tmp/node" "$tmp/hdr"
  tar -xzf "$tmp"/onnxruntime-node-1.30.0.tgz -C "$tmp/node"
  tar -xzf "$tmp"/com.github.asus4.onnxruntime-0.4.9.tgz -C "$tmp/hdr"
  cp "$tmp/node/package/bin/napi-v6/linux/x64/libonnxruntime.so.1" "$ort/lib/"
  ln -sf libonnxruntime.so.1 "$ort/lib/libonnxruntime.so"
  cp "$tmp"/hdr/package/Plugins/iOS~/onnxruntime.xcframework/ios-arm64_x86_64-simulator/onnxruntime.framework/Headers/*.h "$ort/include/"
  rm -rf "$tmp"
fi

# Vega, Vega-Lite and vega-embed (browser builds) from npm: compiled into `dlbricks report`
# so report.html opens offline (src/report/CMakeLists.txt).
vega="$here/third_party/vega"
if [[ ! -f "$vega/vega.min.js" || ! -f "$vega/vega-lite.min.js" || ! -f "$vega/vega-embed.min.js" ]]; then
  echo "setup: fetching Vega, Vega-Lite, vega-embed from npm"
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent vega@6.2.0 vega-lite@6.4.1 vega-embed@7.1.0 >/dev/null)
  mkdir -p "$vega"
  for p in vega-6.2.0 vega-lite-6.4.1 vega-embed-7.1.0; do
    mkdir -p "$tmp/$p" && tar -xzf "$tmp/$p.tgz" -C "$tmp/$p"
    cp "$tmp/$p/package/LICENSE" "$vega/LICENSE.${p%-*}"
  done
  cp "$tmp/vega-6.2.0/package/build/vega.min.js" "$tmp/vega-lite-6.4.1/package/build/vega-lite.min.js" \
     "$tmp/vega-embed-7.1.0/package/build/vega-embed.min.js" "$vega/"
  rm -rf "$tmp"
fi
