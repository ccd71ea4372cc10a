#!/usr/bin/env bash
# spark-submit launcher for `kiln monitor` (see jobs/submit.sh for the environment it reads).
exec "$(dirname "${BASH_SOURCE[0]}")/submit.sh" monitor "$@"
