#!/usr/bin/env bash
# Builds the native addon with AddressSanitizer and UndefinedBehaviorSanitizer and runs the tests that drive
# its packet code (fast path, datapath, fuzzing, checksums, GSO, batch receive and send) against that build.
# Fails when a test fails or when a sanitizer reports anything.
#
# - The build goes to build-sanitize/ (a copy of binding.gyp and native/), never to build/Release: other
#   processes load the normal addon from there. The tests load this one through UVS_NATIVE_PATH
#   (src/native.ts).
# - Node itself is not built with ASan, so the ASan runtime must be in the process before anything else:
#   it is preloaded (LD_PRELOAD), as the runtime's own startup check demands.
# - detect_leaks=0: LeakSanitizer would report what Node and V8 keep allocated until exit on purpose
#   (isolates, code space, static tables), none of it ours, and ours would drown in it.
# - Every report is written to a file under build-sanitize/reports as well as aborting its process, so a
#   report in a child process (the namespace tests spawn some) fails this script even when the test that
#   spawned it does not notice.
set -euo pipefail
cd "$(dirname "$0")/.."

out=build-sanitize
reports="$PWD/$out/reports"
rm -rf "$out"
mkdir -p "$out" "$reports"
cp binding.gyp "$out/"
cp -r native "$out/"

asan_runtime=$(gcc -print-file-name=libasan.so)
ubsan_runtime=$(gcc -print-file-name=libubsan.so)
if [ ! -e "$asan_runtime" ] || [ ! -e "$ubsan_runtime" ]; then
  echo "sanitize: gcc has no ASan/UBSan runtime ($asan_runtime, $ubsan_runtime); apt-get install gcc g++" >&2
  exit 1
fi

# -O1 keeps the run fast and -g1 (line tables) the reports' file:line, at less compile time than -g;
# -fno-sanitize-recover makes UB abort like ASan does.
flags="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g1 -O1"
echo "sanitize: building the addon into $out/ with $flags"
(cd "$out" && JOBS=2 CFLAGS="$flags" CXXFLAGS="$flags" LDFLAGS="-fsanitize=address,undefined" \
  node ../scripts/build-native.mjs >build.log 2>&1) || {
  tail -40 "$out/build.log" >&2
  exit 1
}
addon="$PWD/$out/build/Release/uvs_native.node"
if ! ldd "$addon" | grep -q libasan; then
  echo "sanitize: $addon is not linked against the ASan runtime" >&2
  exit 1
fi

tests=(
  test/datapath/fastpath.test.ts
  test/datapath/datapath.test.ts
  test/datapath/fuzz.test.ts
  test/checksum/native-vs-js.test.ts
  test/checksum/partial.test.ts
  test/io/gso.test.ts
)

# ASan makes the native code several times slower: the long fuzz runs get a longer timeout than npm test's.
status=0
UVS_NATIVE_PATH="$addon" \
  LD_PRELOAD="$asan_runtime:$ubsan_runtime" \
  ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:log_path=$reports/asan" \
  UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$reports/ubsan" \
  npx vitest run --testTimeout=120000 "${tests[@]}" || status=$?

if compgen -G "$reports/*" >/dev/null; then
  echo "sanitize: sanitizer reports:" >&2
  for f in "$reports"/*; do
    echo "--- $f" >&2
    head -60 "$f" >&2
  done
  exit 1
fi
if [ "$status" -ne 0 ]; then
  echo "sanitize: the tests failed under the sanitizers (exit $status)" >&2
  exit "$status"
fi
echo "sanitize: no sanitizer reports"
