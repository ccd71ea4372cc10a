#!/usr/bin/env bash
# Training benchmark (issue #5's acceptance): bench/train.sh [ROWS=1000000]
# Generates ROWS events, ingests them, builds the point-in-time features and a trainset (random split: test 0.2,
# validation 0.1, seed 42), then trains each model type with its defaults, plus XGBoost on the time features alone,
# each a cold `java -jar` run as users run it. Prints ROC AUC, the run's own duration and the process's wall time and
# peak RSS, and writes bench/results/train-<rows>.json. Not part of the test suite.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
rows="${1:-1000000}"
models="${KILN_BENCH_MODELS:-logreg xgboost xgboost-time-only mlp rf gbt}"
[ -f target/kiln.jar ] || mvn -B -q -DskipTests package
work="target/bench-train-$rows"
rm -rf "$work" && mkdir -p "$work" bench/results
export KILN_PII_SALT="${KILN_PII_SALT:-bench-salt-0123456789}"
java -jar target/kiln.jar generate --rows "$rows" --files 10 --out "$work/src" > /dev/null
run() {
  local name="$1"; shift
  /usr/bin/time -f "%e %M" -o "$work/$name.time" java ${KILN_JAVA_OPTS:--Xmx12g} -jar target/kiln.jar "$@" \
    --data-root "$work/root" > "$work/$name.out" 2> "$work/$name.log"
}
run ingest ingest --table events --source "$work/src"
run features features --feature-set conf/features/clicks.yaml
run trainset trainset --feature-set clicks --json
trainset="$(grep -o '"id":"[^"]*"' "$work/trainset.out" | head -1 | cut -d'"' -f4)"
read -r wall _ < "$work/ingest.time"; echo "ingest: ${wall} s"
read -r wall _ < "$work/features.time"; echo "features: ${wall} s"
read -r wall _ < "$work/trainset.time"; echo "trainset $trainset: ${wall} s"

echo "kiln train benchmark: $rows generated events, $(nproc) cores, trainset $trainset"
printf '| %-18s | %7s | %7s | %9s | %7s |\n' model "ROC AUC" "PR AUC" "run s" "wall s" 
results=()
for m in $models; do
  case "$m" in
    xgboost-time-only) args=(--model xgboost --features hour,day_of_week,is_weekend) ;;
    *) args=(--model "$m") ;;
  esac
  run "train-$m" train --trainset "$trainset" "${args[@]}" --json
  json="$(grep '^{' "$work/train-$m.out" | tail -1)"
  auc="$(echo "$json" | grep -o '"roc_auc":[0-9.]*' | cut -d: -f2)"
  prauc="$(echo "$json" | grep -o '"pr_auc":[0-9.]*' | cut -d: -f2)"
  secs="$(echo "$json" | grep -o '"duration_s":[0-9.]*' | cut -d: -f2)"
  read -r wall rss < "$work/train-$m.time"
  printf '| %-18s | %7.4f | %7.4f | %9.1f | %7s |\n' "$m" "$auc" "$prauc" "$secs" "$wall"
  results+=("{\"model\": \"$m\", \"roc_auc\": $auc, \"pr_auc\": $prauc, \"run_s\": $secs, \"wall_s\": $wall, \"peak_rss_kb\": $rss}")
done
(IFS=,; echo "{\"rows\": $rows, \"cores\": $(nproc), \"trainset\": \"$trainset\", \"models\": [${results[*]}]}") \
  > "bench/results/train-$rows.json"
echo "wrote bench/results/train-$rows.json"
