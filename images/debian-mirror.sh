#!/bin/sh
# debian-mirror.sh [security]: prints the Debian mirror this machine's apt
# uses: the first URI of a "deb" source whose suites include this machine's
# release (so not a third-party repository) with the main component.
# debootstrap then fetches from the same place apt does. With "security",
# the same for the <release>-security suite. MIRROR= (SECURITY_MIRROR=)
# overrides.
set -eu
if [ "${1:-}" = security ]; then
	MIRROR="${SECURITY_MIRROR:-}"
fi
if [ -n "${MIRROR:-}" ]; then
	echo "$MIRROR"
	exit 0
fi
. /etc/os-release
codename="${VERSION_CODENAME:?no VERSION_CODENAME in /etc/os-release}"
if [ "${1:-}" = security ]; then
	codename="$codename-security"
fi
{
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -r "$f" ] || continue
		# deb822: blank-line separated stanzas of "Key: value" lines.
		awk -v want="$codename" '
			function flush() {
				if (types ~ /(^| )deb( |$)/ && (" " suites " ") ~ (" " want " ") &&
					(" " comps " ") ~ / main / && uris != "") {
					split(uris, u, " "); print u[1]
				}
				types = suites = uris = comps = ""
			}
			/^[ \t]*$/         { flush(); next }
			/^[Tt]ypes:/       { sub(/^[^:]*:[ \t]*/, ""); types = $0 }
			/^[Ss]uites:/      { sub(/^[^:]*:[ \t]*/, ""); suites = $0 }
			/^URIs:/           { sub(/^[^:]*:[ \t]*/, ""); uris = $0 }
			/^[Cc]omponents:/  { sub(/^[^:]*:[ \t]*/, ""); comps = $0 }
			END { flush() }
		' "$f"
	done
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -r "$f" ] || continue
		# One-line form: deb [options] URI suite components...
		sed -e 's/#.*//' -e 's/\[[^]]*\]//' "$f" |
			awk -v want="$codename" '$1 == "deb" && $3 == want && / main( |$)/ { print $2 }'
	done
} | head -n1 | grep . && exit 0
echo "debian-mirror.sh: no Debian mirror for $codename in /etc/apt/sources.list*; set MIRROR=" >&2
exit 1
