#!/usr/bin/env bash
# The main job on the default corpus (README quick start): analyse, generate a suite, run it,
# measure the models end to end, construct and validate their latencies, learn a per-layer
# latency predictor from the bricks, and write a report.
#   scripts/demo.sh BIN MODEL_NAME...
set -euo pipefail
bin=$1
shift
out=${DEMO_OUT:-out/demo}
mkdir -p "$out"
models=()
for m in "$@"; do models+=("models/$m.onnx"); done
db="$out/results.db"
threads=${DEMO_THREADS:-1}
step() { printf '\n== %s\n' "$*"; }

step "1/8 analyze: layer repetition within and across ${#models[@]} models (DLBricks Fig. 5-7)"
"$bin" analyze "${models[@]}"

step "2/8 generate: a shareable G=1 suite (no weights, no model names: --private mapping)"
"$bin" generate "${models[@]}" -G 1 -o "$out/suite-G1" --force --private "$out/models-G1.json"

step "3/8 run: every brick on ONNX Runtime ($threads thread), resumable, into $db"
"$bin" run "$out/suite-G1" --backend onnxruntime --threads "$threads" --db "$db"

step "4/8 measure: the models end to end with the same protocol, and throughput vs batch"
"$bin" measure "${models[@]}" --backend onnxruntime --threads "$threads" --db "$db"
"$bin" measure "models/$1.onnx" --backend onnxruntime --threads "$threads" --batch 1,2,4,8 --profile-ops --db "$db"

step "5/8 estimate: model latency constructed from the G=1 bricks"
"$bin" estimate "${models[@]}" --db "$db" -G 1

step "6/8 validate: constructed vs end-to-end for G=1..3 (DLBricks Fig. 10-12)"
"$bin" validate "${models[@]}" -G 1..3 --backend onnxruntime --threads "$threads" --db "$db" \
  --work "$out/work" --json >"$out/validation.json"
"$bin" validate "${models[@]}" -G 1..3 --backend onnxruntime --threads "$threads" --db "$db" --read-only
echo "-- the same models with stitched bricks over ONNX Runtime's fused kernels (docs/results.md, issue 5):"
"$bin" validate "${models[@]}" -G 3 --mode dag --fusion onnxruntime --stitch --backend onnxruntime \
  --threads "$threads" --db "$db" --work "$out/work"
echo "-- G=1 over fused kernels from profiled kernel times: packs of 8 visited twice, fastest rounds, cold caches for"
echo "   bricks over 16 MiB of weights, references in 3 rounds spread over the packs, the models' layout reorders,"
echo "   the profiler's own cost per kernel calibrated on 120 timed bricks (issue 5, session 8's recipe):"
"$bin" validate "${models[@]}" -G 1 --fusion onnxruntime --kernel-times --pack 8 --pack-rounds 2 \
  --rounds 3 --fastest-round --cold-weights 16 --reference-passes 1 --profiler-bias 120 --backend onnxruntime \
  --threads "$threads" --db "$db" --work "$out/work"
echo "-- the same bricks and references, each construction times the in-model scale fitted on the other"
echo "   models' references (lone bricks run with warm caches; issue 5, session 13). Read again from the store:"
echo "   its wall_spdup counts no profiling time; the run above has the real one."
"$bin" validate "${models[@]}" -G 1 --fusion onnxruntime --kernel-times --pack 8 --pack-rounds 2 \
  --rounds 3 --fastest-round --cold-weights 16 --reference-passes 1 --profiler-bias 120 --backend onnxruntime \
  --threads "$threads" --db "$db" --work "$out/work" --read-only --context lofo

step "7/8 predictor: XGBoost learns per-layer latency from the G=1 bricks (ResPerfNet); test-split predictions into $db"
"$bin" predictor harvest --db "$db" "${models[@]}"
"$bin" predictor train --db "$db" --models xgboost -o "$out/predictor.dlbp"
"$bin" predictor eval "$out/predictor.dlbp" --db "$db"
echo "-- whole models from predictions only, each family held out: its layers from training, its latency from the"
echo "   in-model context (cold weights) fitted on the other models' end-to-end references:"
"$bin" predictor validate "${models[@]}" --db "$db" --leave-family-out

step "8/8 compare and report: systems ranked per model (DLBricks section 6), figures in one HTML file"
"$bin" compare "${models[@]}" --db "$db"
"$bin" report --db "$db" --models "${models[@]}" --suite "$out/suite-G1" --validation "$out/validation.json" \
  -o "$out/report.html"
echo
echo "results store: $db"
echo "report: $(cd "$out" && pwd)/report.html"
