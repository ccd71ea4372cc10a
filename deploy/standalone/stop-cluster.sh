#!/usr/bin/env bash
# Stop the cluster deploy/standalone/start-cluster.sh started (its Master and Workers; their executors follow).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
pids="target/standalone/pids"
[ -f "$pids" ] || { echo "no cluster running"; exit 0; }
while read -r pid; do kill "$pid" 2>/dev/null || true; done < "$pids"
rm -f "$pids"
echo "standalone cluster stopped"
