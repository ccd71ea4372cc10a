#!/usr/bin/env bash
# Ingestion benchmark: bench/ingest.sh [ROWS=1000000] [REPEATS=3]
# Prints a table and writes bench/results/ingest-<rows>.json. Not part of the test suite.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
[ -f target/kiln.jar ] || mvn -B -q -DskipTests package
rm -rf target/bench-ingest/warm* target/bench-ingest/run*
mkdir -p target/bench-ingest
# java's single-file source launcher compiles the benchmark in memory against Kiln's jar
exec java ${KILN_JAVA_OPTS:--Xmx6g} $(sed -n 's/.*<spark.jvm.flags>\(.*\)<\/spark.jvm.flags>.*/\1/p' pom.xml) \
  -cp "target/kiln.jar:target/lib/*" bench/IngestBench.java "${1:-1000000}" "${2:-3}" target/bench-ingest
