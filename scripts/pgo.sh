#!/usr/bin/env bash
# Profile-guided optimisation (PGO) of the release binary: the simulator's hot path is a long
# chain of data-dependent branches (did a step finish a request, is a queue empty, which event
# comes next), and a profile tells LLVM which way they go and which code is hot. The outputs are
# the same bytes: PGO changes code layout, inlining and branch order, never floating point.
#
#   scripts/pgo.sh build   release binary optimised with the committed profile (pgo/codesim.profdata)
#                          -> $CARGO_TARGET_DIR/pgo/release/codesim (default target/pgo/...)
#   scripts/pgo.sh train   rebuild the profile: an instrumented build, the training runs below,
#                          merged with llvm-profdata; then `build`
#
# `build` needs only rustc. `train` needs llvm-profdata of rustc's LLVM major version (rustc 1.95
# is LLVM 22: Debian's `apt-get install llvm-22` gives llvm-profdata-22). Code changed since the
# profile was trained is compiled without its profile (LLVM drops a function's counts when its
# control flow no longer matches), so the gain decays as the code moves: retrain after changes
# to the step, event or request paths (reports/bench.md says when it was last trained).
#
# Each build has its own target directory: the rustflags differ from a plain `cargo build
# --release`, and sharing one directory would rebuild everything at each switch.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
target="${CARGO_TARGET_DIR:-$root/target}"
profile="$root/pgo/codesim.profdata"

usage() {
    echo "usage: scripts/pgo.sh build|train" >&2
    exit 2
}

build() {
    if [ ! -s "$profile" ]; then
        echo "scripts/pgo.sh: no profile at $profile; run scripts/pgo.sh train first" >&2
        exit 2
    fi
    RUSTFLAGS="-Cprofile-use=$profile" cargo build --release --locked --target-dir "$target/pgo"
    echo "scripts/pgo.sh: built $target/pgo/release/codesim"
}

profdata() {
    local major
    major=$(rustc -vV | sed -n 's/^LLVM version: \([0-9]*\).*/\1/p')
    for tool in "llvm-profdata-$major" "/usr/lib/llvm-$major/bin/llvm-profdata" llvm-profdata; do
        if command -v "$tool" >/dev/null 2>&1 && "$tool" --version 2>/dev/null | grep -q "LLVM version $major\."; then
            echo "$tool"
            return
        fi
    done
    echo "scripts/pgo.sh: train needs llvm-profdata of LLVM $major (rustc's); on Debian: apt-get install llvm-$major" >&2
    exit 2
}

train() {
    local tool raw bin out
    tool=$(profdata)
    raw="$target/pgo-raw"
    out=$(mktemp -d)
    rm -rf "$raw"
    RUSTFLAGS="-Cprofile-generate=$raw" cargo build --release --locked --target-dir "$target/pgo-gen"
    bin="$target/pgo-gen/release/codesim"
    # The training runs: the bench's workloads (the event loop, the step path, the sketches, the
    # autoscaled week), both validation files (the cost model on every chip and engine), every
    # example scenario (each feature's path) and a sweep (loading, the pool, the tables).
    "$bin" bench --repeat 1 >/dev/null
    for f in data/validation/*.toml; do
        "$bin" validate "$f" --json >/dev/null
    done
    for f in scenarios/*.toml; do
        case "$(basename "$f")" in
            plan-*) "$bin" plan "$f" --out "$out/$(basename "$f" .toml)" >/dev/null 2>&1 || true ;;
            sweep-bench-500.toml) "$bin" sweep "$f" --no-plots --jobs 1 --out "$out/sweep" >/dev/null 2>&1 || true ;;
            sweep-*) ;;
            *) "$bin" run "$f" --json >/dev/null 2>&1 || true ;;
        esac
    done
    rm -rf "$out"
    mkdir -p "$(dirname "$profile")"
    "$tool" merge --sparse -o "$profile" "$raw"
    echo "scripts/pgo.sh: wrote $profile ($(du -h "$profile" | cut -f1))"
    build
}

case "${1:-}" in
    build) build ;;
    train) train ;;
    *) usage ;;
esac
