package cargo

import (
	"strconv"
	"strings"
)

// maxVersionLen keeps a version one safe store key segment and URL path
// element (the proxy's download paths accept no more).
const maxVersionLen = 128

// validVersion reports whether s is a SemVer 2.0.0 version as cargo writes
// it: MAJOR.MINOR.PATCH without leading zeros (each fitting a u64, as the
// semver crate requires), an optional pre-release and build metadata.
func validVersion(s string) bool {
	if len(s) == 0 || len(s) > maxVersionLen {
		return false
	}
	rest, build, hasBuild := strings.Cut(s, "+")
	if hasBuild && !dotted(build, buildIdent) {
		return false
	}
	core, pre, hasPre := strings.Cut(rest, "-")
	if hasPre && !dotted(pre, preIdent) {
		return false
	}
	parts := strings.Split(core, ".")
	if len(parts) != 3 {
		return false
	}
	for _, p := range parts {
		if !number(p) {
			return false
		}
	}
	return true
}

// versionBase is v without its build metadata: crates.io and cargo treat
// 1.0.0+a and 1.0.0+b as one version.
func versionBase(v string) string {
	base, _, _ := strings.Cut(v, "+")
	return base
}

// number is a numeric version part: "0" or no leading zero, within u64.
func number(s string) bool {
	if s == "" || (len(s) > 1 && s[0] == '0') {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	_, err := strconv.ParseUint(s, 10, 64)
	return err == nil
}

func dotted(s string, ident func(string) bool) bool {
	for _, id := range strings.Split(s, ".") {
		if !ident(id) {
			return false
		}
	}
	return true
}

// preIdent is a pre-release identifier: alphanumerics and hyphens, and a
// purely numeric one has no leading zero.
func preIdent(s string) bool {
	if !buildIdent(s) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return true
		}
	}
	return s == "0" || s[0] != '0'
}

// buildIdent is a build metadata identifier: alphanumerics and hyphens.
func buildIdent(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isLetter(c) && !isDigit(c) && c != '-' {
			return false
		}
	}
	return true
}

// maxReqLen bounds a dependency's version requirement.
const maxReqLen = 256

// validReq reports whether s is a version requirement in the grammar of
// the semver crate cargo uses: "*", or comparators separated by commas,
// each an optional operator (=, >, >=, <, <=, ~, ^) and a partial version
// whose missing or wildcard (*, x, X) parts stand for any value.
func validReq(s string) bool {
	if len(s) == 0 || len(s) > maxReqLen {
		return false
	}
	if strings.TrimSpace(s) == "*" {
		return true
	}
	for _, c := range strings.Split(s, ",") {
		if !comparator(strings.TrimSpace(c)) {
			return false
		}
	}
	return true
}

func comparator(c string) bool {
	for _, op := range []string{">=", "<=", "=", ">", "<", "~", "^"} {
		if rest, ok := strings.CutPrefix(c, op); ok {
			c = strings.TrimLeft(rest, " ")
			break
		}
	}
	rest, build, hasBuild := strings.Cut(c, "+")
	if hasBuild && !dotted(build, buildIdent) {
		return false
	}
	core, pre, hasPre := strings.Cut(rest, "-")
	parts := strings.Split(core, ".")
	if len(parts) > 3 || (hasPre && (len(parts) != 3 || !dotted(pre, preIdent))) {
		return false
	}
	wild := false
	for _, p := range parts {
		switch {
		case p == "*" || p == "x" || p == "X":
			wild = true
		case wild || !number(p):
			// A number after a wildcard (1.*.3) means nothing.
			return false
		}
	}
	return !(wild && (hasPre || hasBuild))
}

// validRustVersion reports whether s is a package.rust-version: one to
// three numbers ("1.70", "1.70.0").
func validRustVersion(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) > 3 {
		return false
	}
	for _, p := range parts {
		if !number(p) {
			return false
		}
	}
	return true
}

// maxNameLen is crates.io's limit on crate names.
const maxNameLen = 64

// ValidName reports whether s is a crate name: ASCII letters, digits, '-'
// and '_', at most 64 characters, starting with a letter.
func ValidName(s string) bool {
	if len(s) == 0 || len(s) > maxNameLen || !isLetter(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !isLetter(c) && !isDigit(c) && c != '-' && c != '_' {
			return false
		}
	}
	return true
}

// canonical is the form under which crate names collide: crates.io allows
// one crate per name up to case and '-' versus '_'.
func canonical(name string) string {
	return strings.ReplaceAll(strings.ToLower(name), "_", "-")
}

func isLetter(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }
func isDigit(c byte) bool  { return c >= '0' && c <= '9' }
