# Shared by the .ci setup scripts (sourced, not run).

# apt_need installs, on Debian as root, the packages among its arguments
# that are not installed yet; nothing (not even apt-get update) when all are.
apt_need() {
	local missing=() p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
	done
	[ ${#missing[@]} -gt 0 ] || return 0
	DEBIAN_FRONTEND=noninteractive apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# free_port prints a TCP port on the loopback that nothing listens on.
free_port() {
	local p
	for p in $(shuf -i 20000-30000 -n 50); do
		(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
	done
	return 1
}

# step reports a passed check with the seconds since $start.
step() { printf 'ok   %s (%ds)\n' "$*" $((SECONDS - start)); }
