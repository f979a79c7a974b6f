#!/bin/bash
# `stratosphere ca`: creates the CA with a private key file, exports the
# certificate as PEM, DER and PKCS#12 that openssl parses, never exports
# the key, and rejects a corrupt key with a message naming the fix.
# Usage: bash tests/e2e/ca_export.sh BINARY
set -euo pipefail

binary=${1:?usage: ca_export.sh BINARY}
command -v openssl >/dev/null || { echo "skip: openssl is not installed"; exit 77; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
config=$tmp/test.lua
printf 'return { data_dir = "%s/data" }\n' "$tmp" >"$config"

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

"$binary" ca --help >"$tmp/help" || fail "ca --help exited with $?"
grep -q -- "--export DIR" "$tmp/help" || fail "ca --help does not list --export"

status=0
"$binary" ca --no-such-option 2>"$tmp/usage" || status=$?
[ "$status" = 2 ] || fail "an unknown option exited with $status, expected 2"

"$binary" ca --config "$config" >"$tmp/first" || fail "first ca run failed"
grep -q "(created now)" "$tmp/first" || fail "first run did not create the CA"
# Without --export the phone steps are printed too, with how to get the
# DER file they need.
grep -q "^  Android: copy stratosphere-ca.cer to the phone" "$tmp/first" ||
  fail "ca prints no Android steps: $(cat "$tmp/first")"
grep -q "^  iOS: open stratosphere-ca.cer in Safari" "$tmp/first" ||
  fail "ca prints no iOS steps: $(cat "$tmp/first")"
grep -q "'stratosphere ca --export DIR', or open http://stratosphere/ca.cer" "$tmp/first" ||
  fail "ca does not say how to get the DER file: $(cat "$tmp/first")"
[ "$(stat -c %a "$tmp/data/ca/ca.key")" = 600 ] ||
  fail "ca.key mode is $(stat -c %a "$tmp/data/ca/ca.key"), expected 600"

"$binary" ca --config "$config" --export "$tmp/out" >"$tmp/second" ||
  fail "ca --export failed"
grep -q "(created now)" "$tmp/second" && fail "second run created a new CA"
printed=$(sed -n 's/^SHA-256 fingerprint: *//p' "$tmp/second")
[ -n "$printed" ] || fail "no fingerprint printed"

pem_fp=$(openssl x509 -in "$tmp/out/stratosphere-ca.pem" -noout \
  -fingerprint -sha256 | sed 's/.*=//')
der_fp=$(openssl x509 -inform DER -in "$tmp/out/stratosphere-ca.cer" -noout \
  -fingerprint -sha256 | sed 's/.*=//')
[ "$pem_fp" = "$printed" ] || fail "PEM fingerprint $pem_fp != printed $printed"
[ "$der_fp" = "$printed" ] || fail "DER fingerprint $der_fp != printed $printed"
openssl x509 -in "$tmp/out/stratosphere-ca.pem" -noout -text |
  grep -q "CA:TRUE" || fail "exported certificate is not a CA"

openssl pkcs12 -in "$tmp/out/stratosphere-ca.p12" -passin pass: -nokeys \
  -out "$tmp/p12-certs.pem" 2>/dev/null || fail "PKCS#12 does not parse"
p12_fp=$(openssl x509 -in "$tmp/p12-certs.pem" -noout -fingerprint -sha256 |
  sed 's/.*=//')
[ "$p12_fp" = "$printed" ] || fail "PKCS#12 fingerprint $p12_fp != $printed"
openssl pkcs12 -in "$tmp/out/stratosphere-ca.p12" -passin pass: -nocerts \
  -nodes -out "$tmp/p12-keys.pem" 2>/dev/null || true
grep -q "PRIVATE KEY" "$tmp/p12-keys.pem" && fail "PKCS#12 contains a key"
grep -rq "PRIVATE KEY" "$tmp/out" && fail "an exported file contains a key"

echo "not a key" >"$tmp/data/ca/ca.key"
status=0
"$binary" ca --config "$config" 2>"$tmp/corrupt" || status=$?
[ "$status" = 1 ] || fail "a corrupt key exited with $status, expected 1"
grep -q "ca.key: not an unencrypted PEM private key" "$tmp/corrupt" ||
  fail "unexpected message: $(cat "$tmp/corrupt")"
grep -q "to generate a new CA" "$tmp/corrupt" ||
  fail "message does not say how to recover: $(cat "$tmp/corrupt")"

echo "ok ca_export"
