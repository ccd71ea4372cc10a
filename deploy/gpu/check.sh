#!/usr/bin/env bash
# The GPU check: Kiln's `mvn -Pgpu` build on one machine with an NVIDIA GPU, local Spark on all its cores.
#   mvn -Pgpu -DskipTests package && deploy/gpu/check.sh [ROWS]      (default 1,000,000)
# ROWS generated events go through generate -> ingest -> features -> trainset; then `kiln train --model xgboost` with
# device=cuda and on the CPU (the defaults), and the CUDA model is registered, promoted and scores a generated week.
# Fails unless the CUDA run recorded device=cuda in meta.runs. Prints each step's seconds, the fits' log lines, the
# GPU's peak utilization and memory while training, and the AUCs.
# Env: KILN_JAR (default target/kiln.jar), KILN_JAVA_OPTS (default -Xmx24g), OUT (logs; default a temp folder).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
ROWS="${1:-1000000}"; OUT="${OUT:-$(mktemp -d)}"; mkdir -p "$OUT"
J=(java ${KILN_JAVA_OPTS:--Xmx24g} -jar "${KILN_JAR:-target/kiln.jar}")
D="$OUT/data"; rm -rf "$D"
export KILN_PII_SALT="${KILN_PII_SALT:-gpu-check-salt}"
step() {  # step NAME CMD...: runs it, prints rc, seconds, XGBoost's lines and the output's last lines
  local name="$1"; shift; local t0=$EPOCHREALTIME
  "$@" > "$OUT/$name.out" 2>&1; local rc=$?
  echo "== $name rc=$rc $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.1f", b-a}') s"
  grep -h -E "XGBoost: |WARN  Estimators|ERROR|^error" "$OUT/$name.out" | head -n 10 | cut -c 1-400
  tail -n 2 "$OUT/$name.out" | cut -c 1-300; return $rc
}
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || echo "nvidia-smi: no GPU driver here"
echo "logs in $OUT; $(nproc) cores; $(java -version 2>&1 | head -n 1)"
step generate "${J[@]}" generate --rows "$ROWS" --files 8 --out "$D/src" --seed 42 || exit 1
step ingest "${J[@]}" ingest --table events --source "$D/src" --data-root "$D/root" || exit 1
step features "${J[@]}" features --feature-set conf/features/clicks.yaml --data-root "$D/root" || exit 1
step trainset "${J[@]}" trainset --feature-set clicks --id gpu-check --data-root "$D/root" || exit 1
smi=""
if command -v nvidia-smi > /dev/null; then  # the GPU's utilization and memory every 0.5 s while training
  nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv,noheader -lms 500 > "$OUT/smi.csv" 2>&1 &
  smi=$!
fi
step train-cuda "${J[@]}" train --trainset gpu-check --model xgboost --set device=cuda --json --data-root "$D/root"
rc=$?
if [ -n "$smi" ]; then
  kill "$smi" 2> /dev/null
  echo "GPU while training: max utilization $(cut -d, -f2 "$OUT/smi.csv" | tr -dc '0-9\n' | sort -n | tail -n 1)%," \
    "max memory $(cut -d, -f3 "$OUT/smi.csv" | tr -dc '0-9\n' | sort -n | tail -n 1) MiB"
fi
[ "$rc" = 0 ] || exit 1
grep -q '"device":"cuda"' "$OUT/train-cuda.out" || { echo "the device=cuda run did not train on the GPU" >&2; exit 1; }
run="$(grep -o '"run_id":"[^"]*"' "$OUT/train-cuda.out" | head -n 1 | cut -d'"' -f4)"
step train-cpu "${J[@]}" train --trainset gpu-check --model xgboost --json --data-root "$D/root" || exit 1
step register "${J[@]}" models register "$run" --data-root "$D/root" || exit 1
step promote "${J[@]}" models promote 1 --data-root "$D/root" || exit 1
step week "${J[@]}" generate --rows 20000 --population-rows "$ROWS" --out "$D/week" --start 2026-03-02 --days 7 \
  --seed 42 || exit 1
step score "${J[@]}" score --model clicks@champion --input "$D/week/*.csv" --batch-id week1 --data-root "$D/root" \
  || exit 1
for f in "$OUT"/train-*.out; do
  echo "$(basename "$f" .out): $(grep -o -E '"(device|roc_auc|duration_s)":[0-9a-z."]*' "$f" | sort -u | paste -sd' ')" \
    "$(grep -o '"stage_seconds":{[^}]*' "$f" | head -n 1 | grep -o '"fit xgboost":[0-9.]*')"
done
