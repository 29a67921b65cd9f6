#!/usr/bin/env bash
# Wait (at most $1 seconds) for scripts/gpu-session.sh to finish, packing what it wrote into $OUT after every
# finished stage (so a call cut short still brings back the stages done so far).
# Usage on the device host: bash scripts/gpu-wait.sh 540 (CVS_WORK=/tmp/cvsci for a second session)
set -u
W=${CVS_WORK:-/tmp/cvs}
limit=${1:-540}
end=$((SECONDS + limit))
name=$(basename "$W")  # /tmp/cvs -> $OUT/cvs-results.tgz, /tmp/cvsci -> $OUT/cvsci-results.tgz
pack() {
  [ -n "${OUT:-}" ] && tar czf "$OUT/$name-results.tgz.part" -C "$W" status logs report 2>/dev/null \
    && mv "$OUT/$name-results.tgz.part" "$OUT/$name-results.tgz"
}
seen=0
while ! grep -q "ALL DONE" "$W/status" 2>/dev/null && [ $SECONDS -lt $end ]; do
  sleep 3
  now=$(wc -l < "$W/status" 2>/dev/null || echo 0)
  if [ "$now" != "$seen" ]; then seen=$now; pack; fi
done
echo "--- status after ${SECONDS}s"; cat "$W/status" 2>/dev/null
for f in "$W"/logs/*.log; do echo "--- tail $(basename "$f")"; tail -n 15 "$f"; done
pack
[ -n "${OUT:-}" ] && ls -la "$OUT"
true
