#!/bin/bash
# check.sh LAYOUT: copies nora's OCI layout (make oci-image) with skopeo
# into a local docker-registry and checks each platform from there: the
# index lists linux/amd64, linux/arm64 and linux/arm/v7, and each image's
# /usr/bin/nora is a binary for its platform that serves when started the
# way a container engine would: chrooted into the image's filesystem, as the
# image's user, with its entrypoint and environment, and whose HEALTHCHECK
# (nora healthcheck, exec form) passes (foreign platforms run through
# qemu-user's binfmt_misc entries).
set -euo pipefail
layout="$(realpath "$1")"
tmp="$(mktemp -d)"
reg_pid=""
cleanup() {
	[ -z "$reg_pid" ] || kill "$reg_pid" 2>/dev/null || true
	wait 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL $*" >&2; exit 1; }
chroot="$(command -v chroot)"

for p in $(shuf -i 20000-30000 -n 50); do
	(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { port=$p; break; }
done
printf 'version: 0.1\nlog: {level: error}\nstorage: {filesystem: {rootdirectory: %s}}\nhttp: {addr: 127.0.0.1:%s}\n' \
	"$tmp/registry" "$port" >"$tmp/registry.yml"
docker-registry serve "$tmp/registry.yml" >"$tmp/registry.log" 2>&1 &
reg_pid=$!
for _ in $(seq 100); do
	curl -sf -o /dev/null "http://127.0.0.1:$port/v2/" && break
	sleep 0.1
done
ref="127.0.0.1:$port/nora:latest"
skopeo copy --quiet --all --dest-tls-verify=false "oci:$layout:latest" "docker://$ref" || fail "skopeo copy"
platforms="$(crane manifest --insecure "$ref" | grep -o '"platform":{[^}]*}' | sed 's/"platform"://')"
for want in '"architecture":"amd64","os":"linux"' '"architecture":"arm64","os":"linux"' '"architecture":"arm","os":"linux","variant":"v7"'; do
	grep -qF "{$want}" <<<"$platforms" || fail "no {$want} in the index: $platforms"
done
echo "ok   skopeo copy --all oci:$(basename "$layout"):latest to a registry: linux/amd64, linux/arm64, linux/arm/v7"
for plat in linux/amd64 linux/arm64 linux/arm/v7; do
	dir="$tmp/${plat//\//-}"
	mkdir "$dir"
	crane export --insecure --platform "$plat" "$ref" - | tar -C "$dir" -x
	config="$(crane config --insecure --platform "$plat" "$ref")"
	grep -q '"User":"65532:65532"' <<<"$config" || fail "$plat: not run as 65532: $config"
	grep -q '"Entrypoint":\["/usr/bin/nora"\]' <<<"$config" || fail "$plat: entrypoint: $config"
	grep -q '"Healthcheck":{"Test":\["CMD","/usr/bin/nora","healthcheck"\]' <<<"$config" || fail "$plat: healthcheck: $config"
	[ -s "$dir/etc/ssl/certs/ca-certificates.crt" ] || fail "$plat: no CA bundle"
	ver="$("$dir/usr/bin/nora" version)" || fail "$plat: /usr/bin/nora version"
	goarch="$(cut -d/ -f2 <<<"$plat")"
	[[ "$ver" == *" linux/$goarch" ]] || fail "$plat: the binary says $ver"
	for p in $(shuf -i 20000-30000 -n 50); do
		(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { nora_port=$p; break; }
	done
	(exec env -i PATH=/usr/bin NORA_STORAGE_PATH=/var/lib/nora \
		NORA_SERVER_LISTEN="127.0.0.1:$nora_port" \
		"$chroot" --userspec=65532:65532 "$dir" /usr/bin/nora serve >"$tmp/serve.log" 2>&1) &
	nora_pid=$!
	code=""
	for _ in $(seq 100); do
		code="$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$nora_port/v2/")" && [ "$code" = 200 ] && break
		sleep 0.1
	done
	# The image's HEALTHCHECK, run as an engine would: no shell, same env.
	health=""
	for _ in $(seq 100); do
		health="$(env -i PATH=/usr/bin NORA_STORAGE_PATH=/var/lib/nora NORA_SERVER_LISTEN="0.0.0.0:$nora_port" \
			"$chroot" --userspec=65532:65532 "$dir" /usr/bin/nora healthcheck 2>&1)" && break
		sleep 0.1
	done
	kill "$nora_pid" 2>/dev/null || true
	wait "$nora_pid" 2>/dev/null || true
	[ "$code" = 200 ] || { cat "$tmp/serve.log" >&2; fail "$plat: nora serve in the image's root as 65532: /v2/ answered '$code'"; }
	[ "$health" = ready ] || fail "$plat: nora healthcheck in the image's root: '$health'"
	[ -n "$(find "$dir/var/lib/nora" -mindepth 1 -user 65532 -print -quit)" ] || fail "$plat: nothing written to /var/lib/nora as 65532"
	echo "ok   $plat: $ver serves /v2/ as 65532 from the image's root; nora healthcheck says ready"
done
