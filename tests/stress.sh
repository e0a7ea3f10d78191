#!/usr/bin/env bash
# make test-stress: the whole suite on a busy machine, the way CI's shared 2-core runner is.
#
# Starts BUSY_LOOPS background busy-loops (default: one per core, 2 on CI's machine) that keep the CPUs at
# 100 %, then runs `make test` and `make test-comfyui` ROUNDS times (default 3) while they spin. Every round
# runs to the end; the summary lists each round's outcome and the script fails if any round failed.
#
# Usage: make test-stress [ROUNDS=3] [BUSY_LOOPS=2] [STRESS_TARGETS="test test-comfyui"]
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ROUNDS="${ROUNDS:-3}"
BUSY_LOOPS="${BUSY_LOOPS:-$(nproc)}"
TARGETS="${STRESS_TARGETS:-test test-comfyui}"
LOG_DIR="${STRESS_LOG_DIR:-$ROOT/test-artifacts/stress}"
mkdir -p "$LOG_DIR"

busy_pids=()
stop_busy() {
  for pid in "${busy_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
}
trap stop_busy EXIT
for _ in $(seq 1 "$BUSY_LOOPS"); do
  bash -c 'while :; do :; done' &
  busy_pids+=("$!")
done
echo "[test-stress] ${#busy_pids[@]} busy loops running; $ROUNDS rounds of: $TARGETS (logs in $LOG_DIR)"

failed=0
summary=()
for round in $(seq 1 "$ROUNDS"); do
  for target in $TARGETS; do
    log="$LOG_DIR/round-$round-$target.log"
    started=$SECONDS
    if make -C "$ROOT" --no-print-directory "$target" >"$log" 2>&1; then
      outcome="passed"
    else
      outcome="FAILED"
      failed=1
    fi
    line="$(grep -E '^(=+ )?[0-9]+ (passed|failed)' "$log" | tail -1)"
    summary+=("round $round, make $target: $outcome in $((SECONDS - started)) s  ${line}")
    echo "[test-stress] ${summary[-1]}"
  done
done

echo "[test-stress] summary (with $BUSY_LOOPS busy loops):"
printf '  %s\n' "${summary[@]}"
if [ "$failed" = 1 ]; then
  echo "[test-stress] some rounds failed; the failures are at the end of their logs:"
  grep -l "FAILED\|Error" "$LOG_DIR"/*.log 2>/dev/null | sed 's/^/  /'
fi
exit "$failed"
