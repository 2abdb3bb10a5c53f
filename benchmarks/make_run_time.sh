#!/usr/bin/env bash
# Time `make run` from a fresh clone until the chat page answers the seed question.
# Usage: benchmarks/make_run_time.sh [PORT]   (run from the repository root; uses a temp clone)
set -euo pipefail
port=${1:-7861}
repo=$(pwd)
work=$(mktemp -d)
git clone -q "$repo" "$work/vraagbaak"
cd "$work/vraagbaak"
start=$(date +%s.%N)
VRAAGBAAK_PORT=$port make run >"$work/make-run.log" 2>&1 &
pid=$!
trap 'kill -- -$pid 2>/dev/null; pkill -f "vraagbaak serve.*" -P $pid 2>/dev/null; true' EXIT
until curl -sf "http://127.0.0.1:$port/" >/dev/null; do
  sleep 1
  kill -0 $pid 2>/dev/null || { echo "make run exited; see $work/make-run.log"; exit 1; }
done
served=$(date +%s.%N)
# the page is up before the samples are indexed (serve --ingest): ask until the seed is answered
ok=no
for _ in $(seq 600); do
  if answer=$(.venv/bin/vraagbaak ask "Hoeveel projectsubsidie ontvangt OTA van WVG?" --json 2>/dev/null) \
      && echo "$answer" | grep -q "75.000"; then ok=yes; break; fi
  sleep 1
done
done_at=$(date +%s.%N)
printf 'make run: page served after %.0f s, seed question answered (%s) after %.0f s\n' \
  "$(echo "$served - $start" | bc)" "$ok" "$(echo "$done_at - $start" | bc)"
kill -- -$pid 2>/dev/null || kill $pid
