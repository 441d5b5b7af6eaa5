#!/usr/bin/env bash
# Coverage-guided fuzzing of every input format nodepack reads: libFuzzer through
# cargo-fuzz, on the stable toolchain (`--sanitizer none`: no nightly flags needed).
#
#   bash fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]
#
# Runs each target (default: all ten) for SECONDS_PER_TARGET (default 60) from a corpus
# seeded with the project's own scenarios, fixtures and fuzz/seeds, and exits non-zero on
# the first finding: a panic, an abort, a broken import invariant, a run over 10 s or
# over 2 GiB. libFuzzer writes the input to fuzz/artifacts/TARGET/; keep it as a
# regression test. Corpora grow in fuzz/corpus/ (not committed).
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:-60}
shift || true
all=(manifests nodepools catalog scenario sim_scenario trace import_alibaba import_simkube import_google import_kubectl)
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=("${all[@]}")
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
root=..
seed() {
  local t=$1
  mkdir -p "corpus/$t"
  case $t in
    manifests) cp "$root"/scenarios/examples/{pods,cluster-pods}.yaml "corpus/$t/" ;;
    nodepools) cp "$root"/scenarios/nodepools/*.yaml "$root"/scenarios/sim/nodepools.yaml "corpus/$t/" ;;
    catalog) cp seeds/catalog/* "corpus/$t/" ;;
    scenario) cp "$root"/scenarios/examples/shop.yaml "corpus/$t/" ;;
    sim_scenario) cp "$root"/scenarios/sim/{batch-bursts,pdbs,spot-mix,web-diurnal}.yaml "corpus/$t/" ;;
    trace) cp seeds/trace/* "corpus/$t/" ;;
    import_alibaba) cp "$root"/crates/formats/tests/fixtures/import/alibaba-gpu-2023.csv "corpus/$t/" ;;
    import_simkube) cp "$root"/crates/formats/tests/fixtures/import/simkube.trace.json "corpus/$t/" ;;
    import_google) cp "$root"/crates/formats/tests/fixtures/import/google-2019.jsonl "corpus/$t/" ;;
    import_kubectl) cp "$root"/crates/formats/tests/fixtures/import/kubectl-pods.json "corpus/$t/" ;;
    *) echo "unknown target $t (targets: ${all[*]})" >&2; exit 2 ;;
  esac
}
cargo fuzz build --sanitizer none --release
for t in "${targets[@]}"; do
  seed "$t"
  echo "== $t: ${secs}s"
  cargo fuzz run --sanitizer none --release "$t" "corpus/$t" -- \
    -max_total_time="$secs" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 2>&1 | grep -E "^(==|#[0-9]+ *DONE|stat::number_of_executed_units|stat::peak_rss_mb|Done|SUMMARY|thread|.*panicked)" || true
  if [ -n "$(ls -A "artifacts/$t" 2>/dev/null)" ]; then
    echo "finding in $t: $(ls "artifacts/$t")" >&2
    exit 1
  fi
done
echo "== no finding (${#targets[@]} targets, ${secs}s each)"
