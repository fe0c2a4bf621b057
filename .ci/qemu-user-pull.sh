#!/bin/bash
# qemu-user-pull.sh GOARCH...: runs dist/nora-linux-<goarch> (arm64, arm)
# under qemu-user and pulls an image through it from a local upstream:
# Debian's docker-registry on loopback, filled with crane. Then the upstream
# stops and the pull is repeated: nora must serve it from its cache.
# Needs qemu-user-static (through binfmt_misc if registered, else called
# directly), docker-registry and crane. Bounded: each wait gives up after
# $WAIT seconds (default 30).
set -euo pipefail
cd "$(dirname "$0")/.."
. .ci/lib.sh
wait_s="${WAIT:-30}"
tmp="$(mktemp -d)"
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT
start=$SECONDS
fail() {
	echo "FAIL $*" >&2
	tail -n 20 "$tmp"/*.log >&2 2>/dev/null || true
	exit 1
}
wait_http() { # URL: until it answers 200
	local deadline=$((SECONDS + wait_s))
	until [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$1")" = 200 ]; do
		[ "$SECONDS" -lt "$deadline" ] || fail "timed out waiting for $1"
		sleep 0.2
	done
}

# The upstream: a real registry with one image of two random layers.
up_port="$(free_port)"
cat >"$tmp/registry.yml" <<EOF
version: 0.1
log: {level: error}
storage:
  filesystem: {rootdirectory: $tmp/registry}
http: {addr: 127.0.0.1:$up_port}
EOF
docker-registry serve "$tmp/registry.yml" >"$tmp/registry.log" 2>&1 &
up_pid=$!
pids+=("$up_pid")
wait_http "http://127.0.0.1:$up_port/v2/"
for i in 1 2; do
	mkdir -p "$tmp/layer$i"
	head -c 1048576 /dev/urandom >"$tmp/layer$i/data$i"
	tar -C "$tmp/layer$i" -czf "$tmp/layer$i.tar.gz" .
done
image="127.0.0.1:$up_port/appliance/test:1"
crane append --insecure -f "$tmp/layer1.tar.gz" -f "$tmp/layer2.tar.gz" -t "$image" >/dev/null 2>"$tmp/crane.log" || fail "crane append"
want="$(crane digest --insecure "$image")"
step "upstream docker-registry on :$up_port with appliance/test:1 ($want)"

declare -A qemu=([arm64]=aarch64 [arm]=arm)
for goarch in "$@"; do
	bin="dist/nora-linux-$goarch"
	[ -x "$bin" ] || fail "$bin missing; run make cross"
	q="${qemu[$goarch]:?unsupported GOARCH $goarch}"
	run=("$bin")
	if [ ! -e "/proc/sys/fs/binfmt_misc/qemu-$q" ]; then
		run=("qemu-$q-static" "$bin") # no binfmt_misc: call qemu directly
	fi
	ver="$("${run[@]}" version)" || fail "$bin version under qemu-$q"
	[[ "$ver" == *" linux/$goarch" ]] || fail "$bin version says: $ver"
	port="$(free_port)"
	mkdir -p "$tmp/data-$goarch"
	cat >"$tmp/nora-$goarch.toml" <<-EOF
	[server]
	listen = "127.0.0.1:$port"
	[storage]
	path = "$tmp/data-$goarch"
	[[docker.upstreams]]
	name = "docker.io"
	url = "http://127.0.0.1:$up_port"
	EOF
	"${run[@]}" serve --config "$tmp/nora-$goarch.toml" >"$tmp/nora-$goarch.log" 2>&1 &
	pids+=("$!")
	wait_http "http://127.0.0.1:$port/health"
	ref="127.0.0.1:$port/appliance/test:1"
	got="$(crane digest --insecure "$ref")" || fail "crane digest through $bin"
	[ "$got" = "$want" ] || fail "digest through $bin: $got, want $want"
	crane pull --insecure "$ref" "$tmp/pull-$goarch.tar" || fail "crane pull through $bin"
	crane validate --insecure --remote "$ref" >/dev/null || fail "crane validate through $bin"
	step "$ver under qemu-$q: crane pull through it, digest and layers verified"
	echo "$port" >"$tmp/port-$goarch"
done

# The WAN is down: every arm nora serves the same image from its cache.
kill "$up_pid"
wait "$up_pid" 2>/dev/null || true
for goarch in "$@"; do
	ref="127.0.0.1:$(cat "$tmp/port-$goarch")/appliance/test:1"
	crane validate --insecure --remote "$ref" >/dev/null || fail "pull through dist/nora-linux-$goarch with the upstream down"
	step "upstream stopped: dist/nora-linux-$goarch still serves appliance/test:1 from its cache"
done
