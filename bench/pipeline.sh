#!/usr/bin/env bash
# Pipeline benchmark: bench/pipeline.sh [HISTORY_ROWS=200000] [DAY_ROWS=20000]
# The shipped conf/pipelines/daily_training.yaml for one day, run two ways on the same data, side by side:
#   in-process  `kiln pipeline run`: every task in one JVM on one SparkContext (each in its own Spark session);
#   isolate     `kiln pipeline run --isolate`: every task its own `java -jar` process, as a chain of commands runs.
# Each mode gets a fresh data root with the same history ingested first (not timed) and the same day's file; the
# retrain branch, when the monitor takes it, runs 2 tuning trials. Wall time and peak RSS from /usr/bin/time, task
# durations from meta.pipeline_runs. Prints a table and writes bench/results/pipeline-<rows>.json. Not a test.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
history_rows="${1:-200000}"
day_rows="${2:-20000}"
day=2026-03-01
./kiln --version > /dev/null  # builds target/kiln.jar when the sources changed
work="target/bench-pipeline-$history_rows"
rm -rf "$work" && mkdir -p "$work" bench/results
export KILN_PII_SALT="${KILN_PII_SALT:-bench-salt-0123456789}"
kiln() { java ${KILN_JAVA_OPTS:--Xmx8g} -jar target/kiln.jar "$@"; }

kiln generate --rows "$history_rows" --start 2026-02-01 --days 28 --seed 7 --out "$work/history" > /dev/null
kiln generate --rows "$day_rows" --start "$day" --days 1 --seed 7 --population-rows "$history_rows" \
  --out "$work/incoming/$day" > /dev/null
echo "kiln pipeline benchmark: daily_training for $day, $history_rows history events + $day_rows new, $(nproc) cores"
printf '| %-10s | %8s | %8s | %s\n' mode "wall s" "RSS GiB" "summary"
results=()
for mode in in-process isolate; do
  root="$work/root-$mode"
  kiln ingest --table events --source "$work/history" --data-root "$root" > /dev/null
  flag=(); [ "$mode" = isolate ] && flag=(--isolate)
  /usr/bin/time -f "%e %M" -o "$work/$mode.time" java ${KILN_JAVA_OPTS:--Xmx8g} -jar target/kiln.jar pipeline run \
    conf/pipelines/daily_training.yaml --date "$day" --param incoming="$work/incoming" --param retrain_trials=2 \
    "${flag[@]}" --data-root "$root" > "$work/$mode.out" 2> "$work/$mode.log" || true
  read -r wall rss < "$work/$mode.time"
  summary="$(tail -1 "$work/$mode.out")"
  printf '| %-10s | %8s | %8.2f | %s\n' "$mode" "$wall" "$(echo "$rss / 1048576" | bc -l)" "$summary"
  tasks="$(kiln pipeline status conf/pipelines/daily_training.yaml --date "$day" --data-root "$root" --json \
    | paste -sd, -)"
  results+=("{\"mode\": \"$mode\", \"wall_s\": $wall, \"peak_rss_kb\": $rss, \"tasks\": [$tasks]}")
done
for mode in in-process isolate; do
  echo "$mode:"; grep -E "succeeded in|failed in|skipped" "$work/$mode.out" | sed 's/^/ /'
done
in_wall="$(cut -d' ' -f1 "$work/in-process.time")"; iso_wall="$(cut -d' ' -f1 "$work/isolate.time")"
echo "in-process / isolate wall time: $(echo "$in_wall / $iso_wall" | bc -l | cut -c1-5)"
(IFS=,; echo "{\"history_rows\": $history_rows, \"day_rows\": $day_rows, \"cores\": $(nproc), \"modes\": [${results[*]}]}") \
  > "bench/results/pipeline-$history_rows.json"
echo "wrote bench/results/pipeline-$history_rows.json"
