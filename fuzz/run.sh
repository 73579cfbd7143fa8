#!/bin/sh
# Runs every fuzz target of the Rust core for RUNS executions each
# (libFuzzer, through cargo fuzz) and prints the executions and crashes:
#
#   fuzz/run.sh [RUNS]        # default 20000 (the smoke run `make test` does)
#
# Runs on the stable toolchain without a sanitizer (-s none): the core has
# no unsafe code; what is looked for is panics and wrong digests. A crash
# leaves its input in fuzz/artifacts/<target>/; turn it into a test.
set -eu
RUNS=${1:-20000}
cd "$(dirname "$0")"
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
cargo fuzz build -s none
total=0
crashed=""
for target in $(cargo fuzz list); do
    mkdir -p "corpus/$target"
    seeds=""
    [ "$target" = certificate ] && seeds=../tests/vectors/certificates
    if out=$(cargo fuzz run -s none "$target" "corpus/$target" $seeds -- \
            -runs="$RUNS" -max_len=65536 2>&1); then :; else
        crashed="$crashed $target"
        printf '%s\n' "$out" | tail -40
    fi
    runs=$(printf '%s\n' "$out" | sed -n 's/^Done \([0-9]*\) runs.*/\1/p')
    seed=$(printf '%s\n' "$out" | sed -n 's/.*Seed: \([0-9]*\).*/\1/p' | head -1)
    echo "$target: ${runs:-0} executions (seed ${seed:-?})"
    total=$((total + ${runs:-0}))
done
echo "fuzzing: $total executions in total, crashes in:${crashed:- none}"
[ -z "$crashed" ]
