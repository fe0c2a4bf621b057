#!/bin/sh
# copyright.sh BINARY: prints /usr/share/doc/nora/copyright. nora is one
# static Go binary, so besides nora's own notice the file carries the
# license of the Go standard library and of every module compiled in, as
# recorded in the binary's build information (go version -m).
set -eu
bin="$1"
here="$(cd "$(dirname "$0")" && pwd)"

cat "$here/copyright.head"

license_of() { # DIR: prints the license file of a module directory
	for f in LICENSE LICENSE.md LICENSE.txt LICENCE COPYING LICENSE-MIT UNLICENSE; do
		if [ -f "$1/$f" ]; then
			echo "$1/$f"
			return
		fi
	done
}

section() { # NAME DIR
	printf '\n-- %s --\n' "$1"
	lic="$(license_of "$2")"
	if [ -z "$lic" ]; then
		echo "copyright.sh: no license file in $2 ($1)" >&2
		exit 1
	fi
	# Apache-2.0's terms are in /usr/share/common-licenses; keep what
	# surrounds them (copyright lines, the appendix, other licenses).
	awk '/^[[:space:]]*Apache License[[:space:]]*$/ {
		print "Apache License 2.0, see /usr/share/common-licenses/Apache-2.0"
		skip = 1
		next
	}
	skip && /END OF TERMS AND CONDITIONS/ { skip = 0; next }
	!skip' "$lic"
	if [ -f "$2/NOTICE" ]; then
		echo "NOTICE:"
		cat "$2/NOTICE"
	fi
}

echo
echo "The Go standard library and these Go modules are compiled into"
echo "/usr/bin/nora, each under the license that follows it."
section "Go $(go version "$bin" | awk '{print $2}') standard library" "$(go env GOROOT)"
go version -m "$bin" | awk '$1 == "dep" || $1 == "=>" { print $2 "@" $3 }' | while read -r mod; do
	dir="$(go mod download -json "$mod" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
	[ -n "$dir" ] || { echo "copyright.sh: cannot find module $mod" >&2; exit 1; }
	section "$mod" "$dir"
done
