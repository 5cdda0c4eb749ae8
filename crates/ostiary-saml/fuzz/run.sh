#!/usr/bin/env bash
# Builds and runs every ostiary-saml fuzz target for SECONDS each (default 30), seeded from
# seeds/<target>/. Exits non-zero if any target finds a crash (the input is left in
# artifacts/<target>/). cargo-fuzz needs nightly features: on a stable toolchain
# RUSTC_BOOTSTRAP=1 unlocks them. No sanitizer: the crate forbids `unsafe`, so ASan would only
# slow the search down; debug assertions (overflow checks) stay on.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

SECONDS_EACH="${1:-30}"
export RUSTC_BOOTSTRAP=1
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

TARGETS=(parse_message decode_redirect parse_sp_metadata verify_signature)
FLAGS=(--sanitizer none --debug-assertions --release)
cargo fuzz build "${FLAGS[@]}"

failed=()
for t in "${TARGETS[@]}"; do
    mkdir -p "corpus/$t" "artifacts/$t"
    if [[ -d "seeds/$t" ]]; then cp -n seeds/"$t"/* "corpus/$t/" 2>/dev/null || true; fi
    echo "==> fuzz $t for ${SECONDS_EACH}s"
    if ! cargo fuzz run "${FLAGS[@]}" "$t" "corpus/$t" -- \
        -max_total_time="$SECONDS_EACH" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="artifacts/$t/" -print_final_stats=1; then
        failed+=("$t")
    fi
done
if ((${#failed[@]})); then
    echo "fuzzing found crashes in: ${failed[*]} (see artifacts/)" >&2
    exit 1
fi
echo "fuzzing: no crashes in ${TARGETS[*]}"
