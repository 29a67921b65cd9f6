#!/usr/bin/env bash
# The whole GPU-host session, run detached (setsid) so it survives between device calls:
#   setsid nohup bash scripts/gpu-session.sh > /tmp/cvs/session.log 2>&1 &
# then poll /tmp/cvs/status (one line per finished stage: NAME rc seconds) and pack /tmp/cvs/report.
# Each stage runs even when an earlier one failed; every stage's output goes to /tmp/cvs/logs/NAME.log.
set -u
W=${CVS_WORK:-/tmp/cvs}
REPO=$(cd "$(dirname "$0")/.." && pwd)
BUNDLE=${CVS_BUNDLE:-$REPO/.bundle/minimal-5.1.0.tar.xz}
STAGES=${CVS_STAGES:-"info doctor build_main env_check plugin_ctest verify_main gpu_pytest sanitizer build_80 verify_80 bench_alloc bench_pipeline"}
mkdir -p "$W/logs" "$W/report"
export PYTHONPATH=$REPO PYTHONUNBUFFERED=1 CVCUDA_SETUP_CACHE=$W/cache
cd "$REPO"
CVS=(python3 -m cvcuda_setup)
P=$W/prefix
P80=$W/prefix80

stage() {  # stage NAME -- runs function st_NAME, records rc and duration
  local name=$1 start rc
  start=$(date +%s)
  echo "=== $name $(date -u +%FT%TZ)" >> "$W/logs/$name.log"
  ( "st_$name" ) >> "$W/logs/$name.log" 2>&1
  rc=$?
  echo "$name $rc $(( $(date +%s) - start ))" >> "$W/status"
}

st_info() {
  date -u; nvidia-smi; nvcc --version; gcc --version | head -1; cmake --version | head -1; ninja --version
  python3 --version; python3 -m pip list 2>/dev/null | grep -i -E "opencv|numpy|cuda|typer|rich|scikit|nox|pytest"
  nproc; free -g; df -h /tmp; ls /usr/local/cuda/lib64 | grep -E "libnpp|cublas|cufft|cudnn" | head
}
st_doctor() { "${CVS[@]}" doctor --recipe minimal --json > "$W/report/doctor.json"; rc=$?; cat "$W/report/doctor.json"; return $rc; }
st_build_main() {
  "${CVS[@]}" build --recipe minimal --arch auto --source "$BUNDLE" --prefix "$P" --build-dir "$W/build" \
    --cache-dir "$W/cache" --jobs 16 --launcher none --no-doctor
  local rc=$?; cp -r "$W/build/cvcuda-setup-logs" "$W/report/build-main-logs" 2>/dev/null; return $rc
}
st_env_check() {
  "${CVS[@]}" env --prefix "$P" --shell bash > "$W/report/env.sh" && cat "$W/report/env.sh"
  ( source "$W/report/env.sh"; python3 -c "import cv2; print(cv2.__file__); print(cv2.cuda.getCudaEnabledDeviceCount())" )
  cp "$P/share/cvcuda-setup/manifest.json" "$W/report/manifest-main.json"
}
st_plugin_ctest() { ctest --test-dir "$W/build/plugin" --output-on-failure; }
st_verify_main() {
  "${CVS[@]}" verify --prefix "$P" --require-gpu --json "$W/report/verify-main.json" \
    --junit "$W/report/verify-main.xml" --out "$W/report/verify-main"
}
st_gpu_pytest() {
  ( source "$W/report/env.sh"; CVCUDA_TEST_PREFIX=$P CVCUDA_SETUP_PREFIX=$P python3 -m pytest -p no:cacheprovider tests/gpu -m gpu -v -rs )
}
st_sanitizer() {
  ( source "$W/report/env.sh"; compute-sanitizer --tool memcheck --error-exitcode 9 "$P/bin/cvcuda-zerocopy-check" \
      pipeline --device 0 --pattern discs --size 1920x1080 --out-blur "$W/report/san-blur.png" --out-edges "$W/report/san-edges.png" )
}
st_build_80() {
  "${CVS[@]}" build --recipe minimal --arch 8.0 --source "$BUNDLE" --prefix "$P80" --build-dir "$W/build80" \
    --cache-dir "$W/cache" --jobs 16 --launcher none --no-doctor
  local rc=$?; cp -r "$W/build80/cvcuda-setup-logs" "$W/report/build-80-logs" 2>/dev/null; return $rc
}
st_verify_80() {
  "${CVS[@]}" verify --prefix "$P80" --require-gpu --json "$W/report/verify-80.json" --junit "$W/report/verify-80.xml"
  local rc=$?; echo "verify on the 8.0-only build exited $rc (expected: non-zero, arch check failing)"; return $rc
}
st_bench_alloc() { "${CVS[@]}" bench alloc --prefix "$P" --json "$W/report/bench-alloc.json"; }
st_bench_pipeline() {
  "${CVS[@]}" bench pipeline --prefix "$P" --repeat 50 --json "$W/report/bench-pipeline.json" \
    --plot "$W/report/bench-pipeline.png"
}

for s in $STAGES; do stage "$s"; done
echo "ALL DONE" >> "$W/status"
