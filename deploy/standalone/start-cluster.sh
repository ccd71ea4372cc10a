#!/usr/bin/env bash
# Start a real Spark standalone cluster on 127.0.0.1 — a Master and N Worker JVMs — from Maven jars, no Spark
# tarball needed. It also writes a bin/spark-submit into the SPARK_HOME it makes, so jobs/<job>.sh can submit to it.
#
#   mvn -Pcluster -DskipTests package          # target/cluster/{kiln-cluster.jar,spark-jars/}
#   deploy/standalone/start-cluster.sh [WORKERS=1] [CORES_PER_WORKER=2] [MEMORY_PER_WORKER=3g]
#   export SPARK_HOME=$PWD/target/standalone/spark-home KILN_MASTER=spark://127.0.0.1:7077
#   jobs/ingest.sh --source ... --table events --data-root /shared/kiln-data
#   deploy/standalone/stop-cluster.sh
#
# Env: KILN_MASTER_PORT (7077), KILN_MASTER_UI_PORT (8080). State, logs and executor work dirs: target/standalone/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
workers="${1:-1}"; cores="${2:-2}"; memory="${3:-3g}"
port="${KILN_MASTER_PORT:-7077}"; ui="${KILN_MASTER_UI_PORT:-8080}"
state="$PWD/target/standalone"
jars="$PWD/target/cluster/spark-jars"
[ -d "$jars" ] || { echo "error: $jars is missing (build it with: mvn -Pcluster -DskipTests package)" >&2; exit 2; }
if [ -f "$state/pids" ]; then
  echo "error: a cluster seems to be running ($state/pids); stop it with deploy/standalone/stop-cluster.sh" >&2
  exit 2
fi

mkdir -p "$state/spark-home/bin" "$state/logs" "$state/work"
rm -rf "$state/spark-home/jars" && ln -s "$jars" "$state/spark-home/jars"
flags="$(sed -n 's/.*<spark.jvm.flags>\(.*\)<\/spark.jvm.flags>.*/\1/p' pom.xml)"
cat > "$state/spark-home/bin/spark-submit" <<SUBMIT
#!/usr/bin/env bash
# spark-submit for this jars-only SPARK_HOME (what a Spark distribution's bin/spark-submit ends up running)
exec java $flags \${SPARK_SUBMIT_JAVA_OPTS:--Xmx1g} -cp "\$(dirname "\$0")/../jars/*" org.apache.spark.deploy.SparkSubmit "\$@"
SUBMIT
chmod +x "$state/spark-home/bin/spark-submit"

export SPARK_HOME="$state/spark-home" SPARK_SCALA_VERSION=2.12 SPARK_LOCAL_IP=127.0.0.1
await() { # file text seconds
  for _ in $(seq 1 $(( $3 * 5 ))); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.2; done
  echo "error: '$2' not seen in $1 within $3 s:" >&2; tail -20 "$1" >&2; return 1
}
# shellcheck disable=SC2086
java $flags -Xmx512m -cp "$SPARK_HOME/jars/*" org.apache.spark.deploy.master.Master \
  --host 127.0.0.1 --port "$port" --webui-port "$ui" > "$state/logs/master.log" 2>&1 &
echo $! >> "$state/pids"
await "$state/logs/master.log" "I have been elected leader" 120
for i in $(seq 1 "$workers"); do
  # shellcheck disable=SC2086
  java $flags -Xmx512m -cp "$SPARK_HOME/jars/*" org.apache.spark.deploy.worker.Worker "spark://127.0.0.1:$port" \
    --host 127.0.0.1 --cores "$cores" --memory "$memory" --webui-port $(( ui + i )) --work-dir "$state/work" \
    > "$state/logs/worker-$i.log" 2>&1 &
  echo $! >> "$state/pids"
  await "$state/logs/worker-$i.log" "Successfully registered with master" 120
done
echo "standalone cluster up: master spark://127.0.0.1:$port (UI http://127.0.0.1:$ui), $workers worker(s) x $cores cores"
echo "  export SPARK_HOME=$SPARK_HOME KILN_MASTER=spark://127.0.0.1:$port"
