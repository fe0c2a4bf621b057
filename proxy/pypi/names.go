package pypi

import (
	"strings"

	hosted "nora/hosted/pypi"
)

// validProject reports whether name is a project name as PEP 508 allows.
func validProject(name string) bool { return hosted.ValidName(name) }

// normalize is PEP 503's name normalization; name must be valid.
func normalize(name string) string { return hosted.NormalizeName(name) }

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// escapeSegment percent-encodes everything but RFC 3986 unreserved
// characters, so "+" in a local version leaves as "%2B" as PyPI writes it.
func escapeSegment(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isAlnum(c) || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}
