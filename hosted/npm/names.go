package npm

import "strings"

// maxNameLen is npm's limit on package names.
const maxNameLen = 214

// ValidName reports whether name is a package name npm could have
// published: "name" or "@scope/name", url-safe characters only (upper case
// is allowed: old packages have it), no leading dot or underscore, at most
// 214 bytes. Such a name is one path segment, or two for a scoped one, and
// never "." or "..".
func ValidName(name string) bool {
	if name == "" || len(name) > maxNameLen {
		return false
	}
	if scoped, ok := strings.CutPrefix(name, "@"); ok {
		scope, pkg, ok := strings.Cut(scoped, "/")
		return ok && validPart(scope) && validPart(pkg)
	}
	return name[0] != '_' && validPart(name) && name != "node_modules" && name != "favicon.ico"
}

func validPart(s string) bool {
	if s == "" || s[0] == '.' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !NameChar(s[i]) {
			return false
		}
	}
	return true
}

// NameChar reports the characters encodeURIComponent leaves alone, which is
// npm's rule for names.
func NameChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("-._~!*'()", c) >= 0
}
