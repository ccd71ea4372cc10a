#!/usr/bin/env bash
# Rows vs time and memory (issue #13, item 4): bench/scale.sh [ROWS ...]   (default: 1000000 2000000 5000000)
#
# For each size, bench/run --rows N with only its chain and pandas steps: ingest -> features -> trainset -> train
# (xgboost) as four cold commands, each under /usr/bin/time (wall, peak RSS), with KILN_JAVA_OPTS (default -Xmx4g:
# the issue's driver-heap bound; in local mode the executors live in the driver JVM, so this bounds all of Kiln's
# heap), and the pandas script while N <= KILN_SCALE_PANDAS_MAX (default 10000000; above that it is skipped: its
# frames alone outgrow this machine's memory long before 100M). Then bench/ScaleChart.java draws
# bench/results/scale-<UTC date>.png (wall time and peak RSS vs rows) and prints the table for bench/README.md.
# Sizes run smallest first and stop at the first failure (its log says why). Not part of the test suite.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(1000000 2000000 5000000)
for n in "${sizes[@]}"; do
  [[ "$n" =~ ^[1-9][0-9]*$ ]] || { echo "bench/scale.sh: sizes must be positive whole numbers (got '$n')" >&2; exit 2; }
done
export KILN_JAVA_OPTS="${KILN_JAVA_OPTS:--Xmx4g}"
pandas_max="${KILN_SCALE_PANDAS_MAX:-10000000}"
stamp="$(date -u +%Y-%m-%d)"
results=()
for n in $(printf '%s\n' "${sizes[@]}" | sort -n); do
  skip="pipeline,ingest,features,xgboost"
  [ "$n" -le "$pandas_max" ] || skip="$skip,pandas"
  echo "[bench/scale.sh $(date -u +%H:%M:%S)] $n rows: bench/run --rows $n --skip $skip (KILN_JAVA_OPTS=$KILN_JAVA_OPTS)"
  bench/run --rows "$n" --skip "$skip"
  # keep each size's work dir small: the data is regenerated per size; the facts stay in bench/results
  rm -rf "target/bench-run-$n/src" "target/bench-run-$n/root-cold"
  results+=("bench/results/$stamp-$n.json")
done
java -cp "target/kiln.jar:target/lib/*" bench/ScaleChart.java "bench/results/scale-$stamp.png" "${results[@]}" \
  | tee "bench/results/scale-$stamp.md"
