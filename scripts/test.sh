#!/usr/bin/env bash
# Sets up and runs every test: formatting, lints, YANG lint, Rust tests, and the
# interop tests that drive lifelined with real clients (ncclient, netconf-console2,
# OpenSSH, pexpect).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
export LIFELINE_VENV=${LIFELINE_VENV:-/opt/lifeline-venv}
export PYANG="$LIFELINE_VENV/bin/pyang"

step() { printf '\n=== %s\n' "$*"; }
step "cargo fmt --check"
cargo fmt --all -- --check
step "cargo clippy"
cargo clippy --all-targets -- -D warnings
step "YANG lint (pyang --strict, yanglint)"
bash tests/yang_lint.sh
step "cargo test"
cargo test --all-targets
step "interop tests (pytest)"
export LIFELINED="$PWD/target/debug/lifelined"
"$LIFELINE_VENV/bin/python" -m pytest -q -p no:cacheprovider tests/py
