#!/usr/bin/env bash
# Lints every YANG module with pyang --strict and yanglint; any output fails.
set -uo pipefail
cd "$(dirname "$0")/.."
PYANG=${PYANG:-/opt/lifeline-venv/bin/pyang}
paths=(-p yang -p yang/ietf -p yang/iana)
ours=(yang/*.yang)
std=(yang/ietf/*.yang yang/iana/*.yang)
fail=0
out=$("$PYANG" --strict "${paths[@]}" "${ours[@]}" 2>&1) || fail=1
[ -n "$out" ] && { echo "pyang --strict (lifeline modules):"; echo "$out"; fail=1; }
# The standard modules, kept byte-for-byte as published (submodules are checked
# through their modules).
mains=()
for f in "${std[@]}"; do grep -q '^submodule' "$f" || mains+=("$f"); done
out=$("$PYANG" --strict "${paths[@]}" "${mains[@]}" 2>&1) || fail=1
[ -n "$out" ] && { echo "pyang (standard modules):"; echo "$out"; fail=1; }
out=$(yanglint -p yang -p yang/ietf -p yang/iana "${ours[@]}" "${mains[@]}" 2>&1) || fail=1
[ -n "$out" ] && { echo "yanglint:"; echo "$out"; fail=1; }
for cfg in yang/factory-config.xml yang/demo-config.xml; do
  out=$(yanglint -p yang -p yang/ietf -p yang/iana -t config \
    -F ietf-netconf:writable-running,candidate,confirmed-commit,rollback-on-error,validate,startup,xpath \
    -F ietf-system:authentication,local-users -F iana-crypt-hash:crypt-hash-md5,crypt-hash-sha-256,crypt-hash-sha-512 \
    -F ietf-interfaces:if-mib -F ietf-alarms:operator-actions,alarm-shelving,alarm-history,alarm-summary \
    yang/ietf/ietf-system@*.yang yang/ietf/ietf-netconf-acm@*.yang yang/ietf/ietf-netconf@*.yang \
    yang/ietf/ietf-interfaces@*.yang yang/iana/iana-crypt-hash@*.yang yang/ietf/ietf-alarms@*.yang \
    "${ours[@]}" "$cfg" 2>&1) || fail=1
  [ -n "$out" ] && { echo "yanglint $cfg:"; echo "$out"; fail=1; }
done
[ $fail = 0 ] && echo "YANG lint: clean"
exit $fail
