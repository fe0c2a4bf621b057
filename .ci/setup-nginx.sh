#!/usr/bin/env bash
# Installs Debian's nginx: the speed benchmarks (make bench) compare nora
# with nginx's proxy_cache in front of the same upstream. Only the binary is
# wanted; the service the package would start is not. Idempotent.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

if command -v nginx >/dev/null || [ -x /usr/sbin/nginx ]; then exit 0; fi
printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
chmod 0755 /usr/sbin/policy-rc.d
trap 'rm -f /usr/sbin/policy-rc.d' EXIT
apt_need nginx-light
