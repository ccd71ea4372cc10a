#!/usr/bin/env bash
# Batch-scoring speed vs plain xgboost4j:
#   bench/score.sh [ROWS=1000000] [SCORE_ROWS=1000000] [REPEATS=3] [EXPLAIN_ROWS=min(SCORE_ROWS, 20000)]
# Reuses (or builds, via bench/features.sh) target/bench-features-ROWS; trains, registers and promotes an XGBoost
# champion there if it has none; generates SCORE_ROWS later events of the same users and items (the week after the
# history); then bench/ScoreBench.java compares, in one JVM: plain xgboost4j predict / predictContrib, Kiln's model
# apply, and `kiln score` end to end; explanations (SHAP: ~200x the cost of a prediction) on the EXPLAIN_ROWS earliest
# events. KILN_BENCH_E2E=0 keeps only the model apply comparisons (no point-in-time timing, no `kiln score` runs).
# Prints a table and writes bench/results/score-<SCORE_ROWS>.json. Not part of the test suite.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
rows="${1:-1000000}"
score_rows="${2:-1000000}"
repeats="${3:-3}"
explain_rows="${4:-$(( score_rows < 20000 ? score_rows : 20000 ))}"
work="target/bench-features-$rows"
root="$work/root"
# the salt bench/features.sh ingested with: the later events' user ids must hash to the history's
export KILN_PII_SALT="${KILN_PII_SALT:-bench-salt-0123456789}"
kiln() { java ${KILN_JAVA_OPTS:--Xmx12g} -jar target/kiln.jar "$@" --data-root "$root"; }

[ -f target/kiln.jar ] || mvn -B -q -DskipTests package
[ -d "$root/trainsets" ] || bench/features.sh "$rows"

# ScoreBench scores with clicks@champion (the model name defaults to the feature set's)
champions="$(kiln models list --json 2>/dev/null | grep '"name":"clicks"' | grep '"stage":"champion"' \
  | grep -c '"model_type":"xgboost"' || true)"
if [ "$champions" = 0 ]; then
  id="$(ls "$root/trainsets" | grep -v -- '-r[0-9]*$' | head -1)"
  echo "no XGBoost champion in $root: training one on trainset $id"
  version="$(kiln train --trainset "$id" --model xgboost --register | tee /dev/stderr \
    | sed -n 's/.*registered [A-Za-z0-9_]* version \([0-9]*\) .*/\1/p')"
  kiln models promote "$version"
fi

# the week after the history (bench/features.sh generates with the default seed 42 and window 2026-01-01 + 60 days)
later="$work/later-$score_rows"
if [ ! -d "$later" ]; then
  java -jar target/kiln.jar generate --rows "$score_rows" --population-rows "$rows" --start 2026-03-02 --days 7 \
    --out "$later.tmp" > /dev/null
  mv "$later.tmp" "$later"
fi

exec java ${KILN_JAVA_OPTS:--Xmx12g} $(sed -n 's/.*<spark.jvm.flags>\(.*\)<\/spark.jvm.flags>.*/\1/p' pom.xml) \
  -cp "target/kiln.jar:target/lib/*" bench/ScoreBench.java "$root" "$later/*.csv" "$repeats" "$explain_rows"
