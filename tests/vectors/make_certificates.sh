#!/bin/sh
# Makes the certificates src/certificate/tests.rs reads, with the openssl
# CLI (independent of the code under test). Valid from when it is run for
# 100 years; the tests move "now" to test the dates.
set -eu
cd "$(dirname "$0")/certificates"
cert() {  # name, then the key-generation arguments
    name=$1; shift
    openssl genpkey "$@" -out "$name.key" 2>/dev/null
    openssl req -new -x509 -key "$name.key" -days 36500 -subj "/CN=$name" \
        -outform DER -out "$name.der"
    rm "$name.key"
}
cert rsa1024 -algorithm RSA -pkeyopt rsa_keygen_bits:1024
cert rsa2048 -algorithm RSA -pkeyopt rsa_keygen_bits:2048
cert p256 -algorithm EC -pkeyopt ec_paramgen_curve:P-256
cert p384 -algorithm EC -pkeyopt ec_paramgen_curve:P-384
cert p521 -algorithm EC -pkeyopt ec_paramgen_curve:P-521
openssl dsaparam -out dsa.param 2048 2>/dev/null
cert dsa2048 -paramfile dsa.param
rm dsa.param
