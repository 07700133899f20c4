#!/usr/bin/env bash
# OTLP push cost: builds and encodes the OTLP request for a 10,000-series store, side by side
# with the /metrics text rendering of the same store in the same run (criterion, release
# profile). There is no Debian exporter doing OTLP, so /metrics is the baseline.
# Usage: scripts/bench/otlp.sh   (from the repository root)
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo bench --bench otlp -- --noplot "$@"
