#!/usr/bin/env bash
# Installs promtool, which checks and unit-tests deploy/prometheus/alerts.yml
# and parses the Grafana dashboard's queries (TestDeployMetricsExist). It is
# taken out of Debian's prometheus package without installing the package,
# whose server and service the tests do not want. Idempotent.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

command -v promtool >/dev/null && exit 0
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
apt_need ca-certificates
DEBIAN_FRONTEND=noninteractive apt-get update -qq
(cd "$dir" && apt-get download -qq prometheus >/dev/null)
dpkg-deb -x "$dir"/prometheus_*.deb "$dir/x"
install -m 0755 "$dir/x/usr/bin/promtool" /usr/local/bin/promtool
promtool --version >/dev/null
