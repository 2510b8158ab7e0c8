#!/usr/bin/env bash
# Issue 5 experiment driver: regenerates the construction-accuracy and speedup tables of
# docs/results.md (DLBricks Fig. 10-12) for a subset of the corpus on this machine.
#   bench/validate_corpus.sh [OUT_DIR]        (env: BIN, MODELS, GS, SETTINGS, VARIANTS, EXTRA)
# Each setting is one system (backend + options); its end-to-end runs are shared by every
# variant and G, so variants are compared on the same reference measurements.
set -euo pipefail
bin=${BIN:-build/release/tools/dlbricks/dlbricks}
out=${1:-out/validate}
models=(${MODELS:-alexnet resnet18 resnet50 squeezenet1_1 mobilenet_v2 googlenet densenet121 efficientnet_b0 mnasnet1_0 shufflenet_v2_x1_0})
gs=${GS:-1..5}
settings=${SETTINGS:-"ort-noopt-1t ort-all-1t ort-all-2t opencv-1t"}
extra=${EXTRA:-}
mkdir -p "$out"
files=()
for m in "${models[@]}"; do files+=("models/$m.onnx"); done

flags_of() {
  case $1 in
    ort-noopt-1t) echo "--backend onnxruntime --opt-level disable --threads 1" ;;
    ort-all-1t) echo "--backend onnxruntime --opt-level all --threads 1" ;;
    ort-all-2t) echo "--backend onnxruntime --opt-level all --threads 2" ;;
    opencv-1t) echo "--backend opencv --threads 1" ;;
    *) echo "unknown setting $1" >&2; exit 2 ;;
  esac
}
# Variants: the paper's algorithm, then what each improvement buys (env VARIANTS overrides).
variants_of() {
  if [[ -n "${VARIANTS:-}" ]]; then echo "$VARIANTS"; return; fi
  case $1 in
    ort-all-*) echo "paper overhead fusion+overhead stitch kernel" ;;
    *) echo "paper overhead stitch" ;;
  esac
}
variant_flags() {
  case $1 in
    paper) echo "" ;;
    overhead) echo "--overhead-correction" ;;
    fusion) echo "--fusion onnxruntime" ;;
    fusion+overhead) echo "--fusion onnxruntime --overhead-correction" ;;
    # ORT only: profiled kernel times plus the whole model's layout reorders (and without them).
    kernel) echo "--fusion onnxruntime --kernel-times" ;;
    kernel-noreorders) echo "--fusion onnxruntime --kernel-times --no-model-reorders" ;;
    # The same from packed profiling (8 bricks per session, no brick latency runs). Use it
    # instead of `kernel`, not after it: op profiles already in the store are not redone.
    kernel-packed) echo "--fusion onnxruntime --kernel-times --pack 8" ;;
    # One visit per pack, the references in 3 rounds spread over the packs (their own
    # protocol key, so they are timed afresh, interleaved with the bricks); session 6's recipe.
    kernel-packed-interleaved) echo "--fusion onnxruntime --kernel-times --no-model-reorders --pack 8 --pack-rounds 1 --rounds 3 --reference-passes 1" ;;
    # Session 7's recipe: two visits per pack, each brick's fastest and each reference's fastest
    # round (the host's slow stretches), bricks over 16 MiB of weights profiled with cold caches.
    kernel-packed-fastest) echo "--fusion onnxruntime --kernel-times --no-model-reorders --pack 8 --pack-rounds 2 --rounds 3 --fastest-round --cold-weights 16 --reference-passes 1" ;;
    # Session 8's recipe: the same with the models' layout reorders and the profiler's per-kernel
    # cost calibrated on 120 timed bricks and taken off every kernel.
    kernel-packed-calibrated) echo "--fusion onnxruntime --kernel-times --pack 8 --pack-rounds 2 --rounds 3 --fastest-round --cold-weights 16 --reference-passes 1 --profiler-bias 120" ;;
    # Stitched dag bricks over fused kernels where the backend fuses (ORT with optimisations).
    stitch) case $2 in
        ort-all-*) echo "--mode dag --fusion onnxruntime --stitch" ;;
        *) echo "--mode dag --stitch" ;;
      esac ;;
    *) echo "unknown variant $1" >&2; exit 2 ;;
  esac
}

date -u +"started %Y-%m-%dT%H:%M:%SZ"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1-3 /proc/loadavg)"
for s in $settings; do
  db="$out/$s.db"
  for v in $(variants_of "$s"); do
    start=$(date +%s)
    # shellcheck disable=SC2046
    "$bin" validate "${files[@]}" -G "$gs" $(flags_of "$s") $(variant_flags "$v" "$s") $extra \
      --db "$db" --work "$out/work-$s" --json >"$out/$s-$v.json" 2>"$out/$s-$v.log"
    echo "== $s / $v ($(( $(date +%s) - start )) s)"
    "$bin" validate "${files[@]}" -G "$gs" $(flags_of "$s") $(variant_flags "$v" "$s") $extra --db "$db" --read-only \
      | sed -n '/^  G /,$p'
    # The table above is re-read from the store, which keeps no wall clock: print the measuring run's.
    if command -v python3 >/dev/null; then
      python3 -c 'import json, sys
for g in json.load(open(sys.argv[1]))["granularities"]:
    print("  G=%d wall clock: models %.1f s, bricks %.1f s, %.2fx" % (g["G"], g["model_wall_s"], g["brick_wall_s"], g["speedup_wall"]))' "$out/$s-$v.json"
    fi
  done
done
date -u +"finished %Y-%m-%dT%H:%M:%SZ"
