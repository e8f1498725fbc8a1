#!/usr/bin/env bash
# Sets up and runs the demo appliance on loopback (see README).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh demo
cargo build --release --bin lifelined
exec target/release/lifelined --demo
