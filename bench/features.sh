#!/usr/bin/env bash
# Feature benchmark: bench/features.sh [ROWS=1000000]
# Generates ROWS events in 10 time-ordered files; ingests 9 and runs `kiln features` (full), ingests the 10th and runs
# it again (incremental, with late events reaching into the earlier files), then builds a trainset. Each step is a
# cold `java -jar` run, as users run it; wall time and peak RSS come from /usr/bin/time. Prints a table and writes
# bench/results/features-<rows>.json. Not part of the test suite.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
rows="${1:-1000000}"
[ -f target/kiln.jar ] || mvn -B -q -DskipTests package
work="target/bench-features-$rows"
rm -rf "$work" && mkdir -p "$work" bench/results
export KILN_PII_SALT="${KILN_PII_SALT:-bench-salt-0123456789}"
results=()

step() {
  local name="$1"; shift
  /usr/bin/time -f "%e %M" -o "$work/$name.time" java ${KILN_JAVA_OPTS:--Xmx12g} -jar target/kiln.jar "$@" \
    --data-root "$work/root" > "$work/$name.out" 2> "$work/$name.log"
  local wall rss
  read -r wall rss < "$work/$name.time"
  printf '| %-22s | %9s | %8.1f | %s\n' "$name" "$wall" "$(echo "$rss / 1048576" | bc -l)" \
    "$(head -1 "$work/$name.out" | cut -c1-90)"
  results+=("{\"step\": \"$name\", \"wall_s\": $wall, \"peak_rss_kb\": $rss}")
}

java -jar target/kiln.jar generate --rows "$rows" --files 10 --out "$work/src" > /dev/null
echo "kiln features benchmark: $rows generated events, $(nproc) cores"
printf '| %-22s | %9s | %8s | %s\n' step "wall s" "RSS GiB" "first line of output"
step ingest-9-files ingest --table events --source "$work/src/events-0000[0-8].csv"
step features-full features --feature-set conf/features/clicks.yaml
step ingest-10th-file ingest --table events --source "$work/src/events-00009.csv"
step features-incremental features --feature-set conf/features/clicks.yaml
step trainset trainset --feature-set clicks
sed -n 2p "$work/features-incremental.out"
(IFS=,; echo "{\"rows\": $rows, \"cores\": $(nproc), \"steps\": [${results[*]}]}") > "bench/results/features-$rows.json"
echo "wrote bench/results/features-$rows.json"
