#!/bin/sh
# Prints the Debian version of this checkout: a tag v1.2.3 gives 1.2.3,
# commits after it 1.2.3+git4.abc1234, no tag 0.0.0~git20260101.abc1234
# (sorts below any release); a dirty tree appends .dirty.
set -eu
cd "$(dirname "$0")/.."
dirty=""
if [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
	dirty=".dirty"
fi
if d="$(git describe --tags --match 'v[0-9]*' 2>/dev/null)"; then
	d="${d#v}"
	case "$d" in
	*-*-g*) # 1.2.3-4-gabc1234
		base="${d%-*-g*}" rest="${d#"$base"-}"
		echo "$(echo "$base" | tr '-' '~')+git${rest%-g*}.${rest#*-g}$dirty"
		;;
	*) echo "$d$dirty" | tr '-' '~' ;; # 1.2.3-rc1 sorts before 1.2.3
	esac
elif hash="$(git rev-parse --short=7 HEAD 2>/dev/null)"; then
	date="$(TZ=UTC git show -s --format=%cd --date=format-local:%Y%m%d HEAD)"
	echo "0.0.0~git$date.$hash$dirty"
else
	echo "0.0.0~unknown"
fi
