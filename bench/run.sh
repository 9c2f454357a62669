#!/usr/bin/env bash
# Benchmarks: vscript against the same procedures written as kubectl + bash.
# Builds the release binary, runs the bench driver (benches/procedures.rs) against
# simulated clusters, and writes docs/benchmarks.md. Options after the script name are
# passed to the driver: --reps N (5), --speed F (60), --slow-speed F (15),
# --lines N (200000), --out FILE, --keep (keep the work dir with audit logs).
# Needs: cargo, bash, kubectl (1.32), curl, git. The driver measures processes itself
# (benches/procedures/measure.rs).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

for tool in kubectl curl git; do
    command -v "$tool" >/dev/null || { echo "bench: $tool is required" >&2; exit 2; }
done

cargo build --release
out="$root/docs/benchmarks.md"
args=("$@")
case " ${args[*]-} " in *" --out "*) ;; *) args+=(--out "$out") ;; esac
cargo bench --bench procedures -- "${args[@]}"
echo "bench: wrote ${out}" >&2
