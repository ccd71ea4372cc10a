#!/usr/bin/env bash
# Shared spark-submit launcher for Kiln jobs: jobs/<job>.sh calls it with the job name and the job's own flags.
#
#   SPARK_HOME=/opt/spark KILN_MASTER=spark://host:7077 jobs/ingest.sh --source ... --table events
#
# Uses target/cluster/kiln-cluster.jar (build it with: mvn -Pcluster -DskipTests package), in which Spark is `provided`
# by the cluster and Delta, picocli and Kiln are shaded in. Extra spark-submit flags: KILN_SUBMIT_ARGS.
set -euo pipefail
KILN_HOME="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
JAR="${KILN_JAR:-$KILN_HOME/target/cluster/kiln-cluster.jar}"
job="$1"; shift

if [ -n "${SPARK_HOME:-}" ]; then SUBMIT="$SPARK_HOME/bin/spark-submit"; else SUBMIT="$(command -v spark-submit || true)"; fi
if [ -z "$SUBMIT" ] || [ ! -x "$SUBMIT" ]; then
  echo "error: spark-submit not found (set SPARK_HOME, or use ./kiln $job for an embedded local Spark)" >&2
  exit 2
fi
if [ ! -f "$JAR" ]; then
  echo "error: $JAR is missing (build it with: mvn -Pcluster -DskipTests package)" >&2
  exit 2
fi

# shellcheck disable=SC2086
exec "$SUBMIT" \
  --master "${KILN_MASTER:-local[*]}" \
  --name "kiln $job" \
  --class dev.kiln.cli.KilnCli \
  --conf spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension \
  --conf spark.sql.catalog.spark_catalog=org.apache.spark.sql.delta.catalog.DeltaCatalog \
  --conf spark.sql.session.timeZone=UTC \
  ${KILN_SUBMIT_ARGS:-} \
  "$JAR" "$job" "$@"
