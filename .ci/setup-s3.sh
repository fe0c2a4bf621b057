#!/usr/bin/env bash
# Installs the real S3 server the S3 tests start on loopback: versitygw
# (its posix backend keeps a bucket as a directory). Idempotent.
set -euo pipefail

if ! command -v go >/dev/null && [ -x /usr/local/go/bin/go ]; then
	export PATH="/usr/local/go/bin:$PATH"
fi
PATH="$(go env GOPATH)/bin:$PATH"
export PATH

version=v1.8.0
if ! command -v versitygw >/dev/null; then
	go install "github.com/versity/versitygw/cmd/versitygw@$version"
fi
command -v versitygw >/dev/null
