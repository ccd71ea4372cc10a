#!/usr/bin/env bash
# The spark-submit path end to end, as CI runs it: build kiln-cluster.jar, start a standalone cluster on 127.0.0.1,
# submit `kiln generate` output to it through jobs/ingest.sh, and check the counts against the generator's truth;
# then train a small model embedded on that data root and batch-score a later week on the cluster (jobs/score.sh).
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

# cluster batch scoring: features, trainset and a small XGBoost champion built embedded, a later week scored by
# spark-submit on the cluster
kiln() {
  java -jar target/kiln.jar "$@" --data-root "$work/root" >>"$work/train.log" 2>&1 \
    || { echo "error: kiln $1 failed" >&2; tail -40 "$work/train.log" >&2; exit 1; }
}
kiln features --feature-set conf/features/clicks.yaml
kiln trainset --feature-set clicks --split random --seed 7
trainset="$(ls "$work/root/trainsets" | head -1)"
kiln train --trainset "$trainset" --model xgboost --set n_estimators=30 --register
kiln models promote 1 --name clicks
java -jar target/kiln.jar generate --rows 3000 --population-rows 20000 --start 2026-03-02 --days 7 --seed 7 \
  --out "$work/later" >/dev/null
jobs/score.sh --model clicks@champion --input "$work/later/*.csv" --batch-id week-10 --explain 3 \
  --data-root "$work/root" --pii-salt-file "$work/salt" --json 2>"$work/score.log" | tee "$work/score.json"
scored="$(grep -o '"rows":[0-9]*' "$work/score.json" | grep -o '[0-9]*$')"
if [ "$scored" != 3000 ]; then
  echo "error: cluster scoring wrote '$scored' predictions, expected 3000" >&2; tail -40 "$work/score.log" >&2
  exit 1
fi
executors="$(find target/standalone/work -mindepth 2 -maxdepth 2 -type d | wc -l)"
echo "spark-submit smoke test passed: $accepted rows accepted and $scored events scored on the standalone cluster" \
  "($executors executor process(es))"
