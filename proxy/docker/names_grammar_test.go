package docker

import (
	"regexp"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
)

// The distribution-spec grammar as regular expressions: the oracle of the
// hand-written matchers in names.go.
var (
	nameRe = regexp.MustCompile(`^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$`)
	tagRe  = regexp.MustCompile(`^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$`)
)

func grammarAgrees(t *testing.T, s string) {
	t.Helper()
	if got, want := validName(s), len(s) <= maxNameLen && nameRe.MatchString(s); got != want {
		t.Errorf("validName(%q) = %v, the grammar says %v", s, got, want)
	}
	if got, want := validTag(s), tagRe.MatchString(s); got != want {
		t.Errorf("validTag(%q) = %v, the grammar says %v", s, got, want)
	}
	d, err := digest.Parse(s)
	want := err == nil && d.Algorithm().Available()
	if got := validDigest(digest.Digest(s)); got != (digest.Digest(s).Validate() == nil) {
		t.Errorf("validDigest(%q) = %v, go-digest says %v", s, got, !got)
	}
	if _, err := parseDigest(s); (err == nil) != want {
		t.Errorf("parseDigest(%q): %v, go-digest says %v", s, err, want)
	}
}

func TestGrammarMatchesTheRegularExpressions(t *testing.T) {
	hex := strings.Repeat("ab01", 16)
	for _, s := range []string{"", "a", "A", "library/alpine", "a/b/c", "a//b", "/a", "a/", "a.b", "a..b", "a_b", "a__b",
		"a___b", "a-b", "a---b", "a-", "-a", "_a", ".a", "a.", "a_", "a-_b", "a._b", "ab/c-d__e.f", "UPPER", "a b",
		"a\x00", "é", strings.Repeat("a", 255), strings.Repeat("a", 256), strings.Repeat("a/", 127) + "a",
		"latest", "v1.0", "1", "_", ".", "..", "-x", "x-", "x.-_", strings.Repeat("t", 128), strings.Repeat("t", 129),
		"sha256:" + hex, "sha256:" + strings.ToUpper(hex), "sha256:" + hex[1:], "sha256:" + hex + "0",
		"sha512:" + hex + hex, "sha384:" + hex[:48] + hex[:48], "sha256" + hex, ":" + hex, "sha256:" + hex[:63] + "g"} {
		grammarAgrees(t, s)
	}
}

func FuzzGrammar(f *testing.F) {
	for _, s := range []string{"library/alpine", "a__b-c.d/e", "v1.2.3", "sha256:" + strings.Repeat("0f", 32)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { grammarAgrees(t, s) })
}
