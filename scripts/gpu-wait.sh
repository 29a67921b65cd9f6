#!/usr/bin/env bash
# Wait (at most $1 seconds) for scripts/gpu-session.sh to finish, then pack what it wrote into $OUT.
# Usage on the device host: bash scripts/gpu-wait.sh 540
set -u
W=${CVS_WORK:-/tmp/cvs}
limit=${1:-540}
end=$((SECONDS + limit))
while ! grep -q "ALL DONE" "$W/status" 2>/dev/null && [ $SECONDS -lt $end ]; do
  sleep 5
done
echo "--- status after ${SECONDS}s"; cat "$W/status" 2>/dev/null
for f in "$W"/logs/*.log; do echo "--- tail $(basename "$f")"; tail -n 15 "$f"; done
if [ -n "${OUT:-}" ]; then
  tar czf "$OUT/cvs-results.tgz" -C "$W" status logs report 2>/dev/null
  ls -la "$OUT"
fi
