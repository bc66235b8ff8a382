#!/usr/bin/env bash
# Fuzzes codesim's input parsers with libFuzzer (cargo-fuzz, nightly toolchain): the scenario
# loader, each trace reader, and the sweep, plan and validation file parsers; structured targets
# (scenario_values, sweep_values, plan_values) edit valid files key by key, and hf_config reads
# the input as a Hugging Face config.json under a scenario (fuzz/).
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]     # default: 60 s, every target
#
# Installs cargo-fuzz if it is missing, builds the targets once (optimised, with debug assertions
# and overflow checks, no sanitizer: the parsers are safe Rust), then runs each target for the
# given time from the committed seeds in fuzz/corpus/<target> (TOML targets with fuzz/toml.dict).
# `scenario_values` edits valid scenarios key by key (byte-level mutation of TOML text mostly
# explores the TOML parser; it explores validation and simulation set-up). What the fuzzer learns goes to
# fuzz/corpus-run/<target> (ignored by git); crashes, timeouts and out-of-memory inputs go to
# fuzz/artifacts/<target>. Minimize one with `cargo +nightly fuzz tmin -s none TARGET FILE`, add
# it to fuzz/corpus/<target> so tests/fuzz_corpus.rs replays it in `cargo test`, and fix it.
#
# Exit 0 when no target crashed; 1 otherwise (the crashing targets are listed). Not part of CI:
# it needs nightly and minutes of CPU. FUZZ_TARGET_DIR moves the build (default fuzz/target).
set -euo pipefail
cd "$(dirname "$0")/.."

secs=${1:-60}
shift || true
case $secs in
    ''|*[!0-9]*) echo "usage: $0 [SECONDS_PER_TARGET] [TARGET...]" >&2; exit 2 ;;
esac

if ! command -v cargo >/dev/null 2>&1; then
    export PATH="$HOME/.cargo/bin:$PATH"
fi
if ! rustup toolchain list | grep -q '^nightly'; then
    echo "fuzz: installing the nightly toolchain (cargo-fuzz needs it)"
    rustup toolchain install nightly --profile minimal
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cargo +nightly fuzz list)
fi

target_dir=${FUZZ_TARGET_DIR:-fuzz/target}
build=(-s none --codegen-units 16 --target-dir "$target_dir")
echo "fuzz: building the fuzz targets"
cargo +nightly fuzz build "${build[@]}"

failed=()
for t in "${targets[@]}"; do
    mkdir -p "fuzz/corpus-run/$t" "fuzz/artifacts/$t"
    log="fuzz/artifacts/$t/last-run.log"
    echo "fuzz: $t for ${secs} s (log: $log)"
    # -timeout: one input taking 10 s is a hang; -rss_limit_mb (and the malloc limit it implies):
    # an input must not make codesim allocate gigabytes. The first corpus folder receives new
    # inputs, so the committed seeds stay as they are.
    # TOML targets get a dictionary of codesim's keys and values.
    dict=()
    case $t in scenario | sweep | plan | validation) dict=(-dict="$PWD/fuzz/toml.dict") ;; esac
    set +e
    cargo +nightly fuzz run "${build[@]}" "$t" "$PWD/fuzz/corpus-run/$t" "$PWD/fuzz/corpus/$t" -- \
        -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 "${dict[@]}" >"$log" 2>&1
    rc=$?
    set -e
    grep -E '^#[0-9]+ +DONE|^stat::number_of_executed_units|^stat::average_exec_per_sec|^SUMMARY|panicked at|^==[0-9]+== ERROR' "$log" || true
    if [ $rc -ne 0 ]; then
        failed+=("$t")
        grep -E '^(artifact_prefix|Test unit written)' "$log" || true
    fi
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz: crashes in: ${failed[*]} (inputs in fuzz/artifacts/<target>/)" >&2
    exit 1
fi
echo "fuzz: no crash in ${#targets[@]} targets × ${secs} s"
