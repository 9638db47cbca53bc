# Sourced by every tests/cli/*.sh (this folder holds no tests): a scratch folder $WORK removed at
# exit, the pass / fail counters, ways of recording a check (one for the one-line errors), and the
# summary line.
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
passes=0 fails=0

# check NAME STATUS DETAIL: records the test just run, whose exit status was STATUS.
check() {
  if [ "$2" -eq 0 ]; then echo "ok   $1"; passes=$((passes + 1)); else echo "FAIL $1: $3"; fails=$((fails + 1)); fi
}

# run_check NAME CMD...: runs one test, shows its output either way, returns its status.
run_check() {
  local name=$1; shift
  local out status
  out=$("$@" 2>&1); status=$?
  printf '%s\n' "$out" | sed 's/^/    /'
  if [ $status -eq 0 ]; then
    echo "ok   $name"; passes=$((passes + 1))
  else
    echo "FAIL $name (exit status $status)"; fails=$((fails + 1))
  fi
  return $status
}

# expect_error NAME PATTERN CMD...: records whether CMD failed as every error must: a non-zero exit
# status (not a signal) and exactly one stderr line, "gemma-qat: error: ...", matching PATTERN.
expect_error() {
  local name=$1 pattern=$2; shift 2
  local err status
  err=$("$@" 2>&1 >/dev/null); status=$?
  local lines
  lines=$(printf '%s\n' "$err" | grep -c .)
  if [ $status -eq 0 ] || [ $status -ge 128 ]; then
    echo "FAIL $name: exit status $status"; fails=$((fails + 1)); return
  fi
  if [ "$lines" -ne 1 ] || [[ "$err" != "gemma-qat: error: "* ]] || ! grep -q -- "$pattern" <<<"$err"; then
    echo "FAIL $name: stderr was: $err"; fails=$((fails + 1)); return
  fi
  echo "ok   $name: $err"; passes=$((passes + 1))
}

# finish: prints the summary and exits, non-zero if anything failed.
finish() {
  echo "$passes passed, $fails failed"
  [ "$fails" -eq 0 ]
  exit
}

# missing WHAT: a prerequisite is not there; that is a failure (never a skip), and the end.
missing() { echo "FAIL $1"; fails=$((fails + 1)); finish; }

# require_llamacpp NODE_DIR: node and node-llama-cpp's prebuilt binaries (bash scripts/setup-llamacpp.sh).
require_llamacpp() {
  command -v node >/dev/null || missing "node (Node.js >= 20) is not installed: run bash scripts/setup-llamacpp.sh"
  [ -f "$1/node_modules/node-llama-cpp/package.json" ] && [ -d "$1/node_modules/@node-llama-cpp/linux-x64" ] ||
    missing "llama.cpp is not installed in $1/node_modules: run bash scripts/setup-llamacpp.sh"
}
