#!/bin/sh
# packaged-config.sh DEFAULT_TOML: prints the packaged /etc/nora/nora.toml
# (the .deb's, so also the Pi image's): the embedded default, which
# describes every key, with the values a box on the network wants set:
# data in the service's state directory, HTTPS with the site CA on 443 and
# plain HTTP on 80 (the CA, /health, redirects). A key written commented out
# in the default is uncommented. Fails if a key to set is missing, so a
# change to the default cannot silently drop one.
set -eu
awk '
BEGIN {
	n = split("storage.path=\"/var/lib/nora\"|" \
		"server.listen=\"0.0.0.0:443\"|" \
		"server.listen_plain=\"0.0.0.0:80\"|" \
		"server.plain=\"redirect\"|" \
		"server.tls.mode=\"auto\"", sets, "|")
	for (i = 1; i <= n; i++) {
		eq = index(sets[i], "=")
		want[substr(sets[i], 1, eq - 1)] = substr(sets[i], eq + 1)
	}
}
NR == 1 { print "# nora configuration: the packaged defaults. Every key is described here;"; next }
NR == 2 { print "# after a change: nora config check, then systemctl restart nora."; next }
/^\[\[/ { section = ""; print; next } # an array of tables: nothing set there
/^\[[a-z0-9_.]+\]/ { section = substr($0, 2, index($0, "]") - 2); print; next }
{
	line = $0
	sub(/^# ?/, "", line)
	if (!match(line, /^[a-z0-9_]+ = /)) { print; next }
	key = substr(line, 1, RLENGTH - 3)
	full = section "." key
	if (!(full in want) || (full in done)) { print; next }
	# The value: a quoted string or a bare word; what follows (spaces and
	# a comment) keeps its column when the new value leaves room.
	rest = substr(line, RLENGTH + 1)
	if (match(rest, /^"[^"]*"/) || match(rest, /^[^ #]+/)) rest = substr(rest, RLENGTH + 1)
	out = key " = " want[full]
	if (match(rest, /^ +#/)) {
		col = length(line) - length(rest) + RLENGTH - 1
		tail = substr(rest, RLENGTH)
		pad = col - length(out)
		if (pad < 1) pad = 1
		out = sprintf("%s%" pad "s%s", out, "", tail)
	}
	print out
	done[full] = 1
}
END {
	for (k in want) if (!(k in done)) { print "packaged-config.sh: no " k " key in the default" > "/dev/stderr"; bad = 1 }
	exit bad
}' "$1"
