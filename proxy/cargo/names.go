package cargo

import (
	"strings"

	hosted "nora/hosted/cargo"
)

// maxVersionLen bounds a version string (semver has no limit; keys do).
const maxVersionLen = 128

// validVersion reports whether s looks like a semver version: it starts
// with a digit and holds only letters, digits, '.', '-' and '+'. That is
// enough to keep it one safe key segment and URL path element; whether it
// exists is the index's business.
func validVersion(s string) bool {
	if len(s) == 0 || len(s) > maxVersionLen || !isDigit(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !isLetter(c) && !isDigit(c) && c != '.' && c != '-' && c != '+' {
			return false
		}
	}
	return true
}

func isLetter(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }
func isDigit(c byte) bool  { return c >= '0' && c <= '9' }

// prefix is the directory of name's index file, case kept: "1", "2",
// "3/s", "se/rd" (the {prefix} dl marker). name must be valid.
func prefix(name string) string {
	switch len(name) {
	case 1:
		return "1"
	case 2:
		return "2"
	case 3:
		return "3/" + name[:1]
	}
	return name[:2] + "/" + name[2:4]
}

// indexPath is the path of name's file below the index root; cargo and
// crates.io use the lowercased name throughout.
func indexPath(name string) string {
	l := strings.ToLower(name)
	return prefix(l) + "/" + l
}

// parseIndexPath turns "se/rd/serde" (below the index root) into the
// lowercased crate name. The directories must be the ones the name's
// prefix rule gives; letters may differ in case only.
func parseIndexPath(p string) (string, bool) {
	i := strings.LastIndexByte(p, '/')
	if i < 0 {
		return "", false
	}
	name := strings.ToLower(p[i+1:])
	if !hosted.ValidName(name) || !strings.EqualFold(p[:i], prefix(name)) {
		return "", false
	}
	return name, true
}

// parseVersionPath turns "<name>/<version>/<action>" (below
// /cargo/api/v1/crates/) into its parts; action is download, yank or
// unyank.
func parseVersionPath(p string) (name, version, action string, ok bool) {
	name, rest, ok1 := strings.Cut(p, "/")
	version, action, ok2 := strings.Cut(rest, "/")
	switch {
	case !ok1 || !ok2 || !hosted.ValidName(name) || !validVersion(version):
		return "", "", "", false
	case action == "download" || action == "yank" || action == "unyank":
		return name, version, action, true
	}
	return "", "", "", false
}
