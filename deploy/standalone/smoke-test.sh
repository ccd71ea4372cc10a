#!/usr/bin/env bash
# The spark-submit path end to end, as CI runs it: build kiln-cluster.jar, start a standalone cluster on 127.0.0.1,
# submit `kiln generate` output to it through jobs/ingest.sh, and check the counts against the generator's truth.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
mvn -B -q -ntp -Pcluster -DskipTests package
trap 'deploy/standalone/stop-cluster.sh' EXIT
deploy/standalone/start-cluster.sh 1 2 3g
work="$(mktemp -d)"
java -jar target/kiln.jar generate --rows 20000 --out "$work/src" --dirty 0.02 --seed 7 >/dev/null
echo "smoke-test-salt-42" > "$work/salt"
export SPARK_HOME="$PWD/target/standalone/spark-home" KILN_MASTER=spark://127.0.0.1:${KILN_MASTER_PORT:-7077}
export KILN_SUBMIT_ARGS="--conf spark.executor.cores=1 --conf spark.cores.max=2 --conf spark.executor.memory=1g"
jobs/ingest.sh --source "$work/src" --table events --data-root "$work/root" --pii-salt-file "$work/salt" --json \
  2>"$work/driver.log" | tee "$work/summary.json"
expected="$(grep -o '"expected_accepted" : [0-9]*' "$work/src/_truth.json" | grep -o '[0-9]*$')"
# the summary's keys are sorted, so the top-level "accepted" opens the object (no `| head`: SIGPIPE under pipefail)
accepted="$(grep -o '^{"accepted":[0-9]*' "$work/summary.json" | grep -o '[0-9]*$')"
if [ "$accepted" != "$expected" ]; then
  echo "error: cluster ingest accepted '$accepted' rows, the truth says $expected" >&2; tail -40 "$work/driver.log" >&2
  exit 1
fi
executors="$(find target/standalone/work -mindepth 2 -maxdepth 2 -type d | wc -l)"
echo "spark-submit smoke test passed: $accepted rows accepted on the standalone cluster ($executors executor process(es))"
