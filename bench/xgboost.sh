#!/usr/bin/env bash
# XGBoost4J-Spark vs plain xgboost4j on the same matrix: bench/xgboost.sh [ROWS=1000000] [ROUNDS=300] [REPEATS=3]
# Reuses (or builds, via bench/features.sh) the generated events, features and trainset of target/bench-features-ROWS.
# Prints a table and writes bench/results/xgboost-<train rows>.json. Not part of the test suite.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
rows="${1:-1000000}"
work="target/bench-features-$rows"
[ -f target/kiln.jar ] || mvn -B -q -DskipTests package
[ -d "$work/root/trainsets" ] || bench/features.sh "$rows"
id="$(ls "$work/root/trainsets" | grep -v -- '-r[0-9]*$' | head -1)"
exec java ${KILN_JAVA_OPTS:--Xmx12g} $(sed -n 's/.*<spark.jvm.flags>\(.*\)<\/spark.jvm.flags>.*/\1/p' pom.xml) \
  -cp "target/kiln.jar:target/lib/*" bench/XgboostBench.java "$work/root" "$id" "${2:-300}" "${3:-3}"
