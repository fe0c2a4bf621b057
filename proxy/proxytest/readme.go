package proxytest

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// The README's client snippets name the box "nora.local:4000"; the tests
// that run them put a test nora's address in its place.
const (
	DocHost = "nora.local"
	DocAddr = DocHost + ":4000"
)

func readme(t testing.TB) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	b, err := os.ReadFile(filepath.Join(filepath.Dir(file), "..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Snippet returns the text of the one fenced code block of README.md that
// contains marker, so a client test runs what the README tells users.
func Snippet(t testing.TB, marker string) string {
	t.Helper()
	var found []string
	blocks := strings.Split(readme(t), "```")
	// Odd elements are inside fences; their first line is the info string.
	for i := 1; i < len(blocks); i += 2 {
		_, body, _ := strings.Cut(blocks[i], "\n")
		if strings.Contains(body, marker) {
			found = append(found, body)
		}
	}
	if len(found) != 1 {
		t.Fatalf("README.md has %d code blocks containing %q, want 1", len(found), marker)
	}
	return found[0]
}

// Inline returns the one inline code span of README.md that starts with
// prefix (commands in prose and tables); a span wrapped over two lines
// comes back with a space for the line break.
func Inline(t testing.TB, prefix string) string {
	t.Helper()
	var prose []string
	for i, part := range strings.Split(readme(t), "```") {
		if i%2 == 0 {
			prose = append(prose, part)
		}
	}
	var found []string
	spans := strings.Split(strings.Join(prose, "\n"), "`")
	for i := 1; i < len(spans); i += 2 {
		span := strings.ReplaceAll(spans[i], "\n", " ")
		if strings.HasPrefix(span, prefix) {
			found = append(found, span)
		}
	}
	if len(found) != 1 {
		t.Fatalf("README.md has %d inline code spans starting with %q, want 1: %q", len(found), prefix, found)
	}
	return found[0]
}

// Local puts n's address where a README snippet names the box, and its
// host where the snippet names the host alone (a trusted-host entry).
func (n *Nora) Local(snippet string) string {
	host, _, _ := strings.Cut(n.Addr, ":")
	return strings.ReplaceAll(strings.ReplaceAll(snippet, DocAddr, n.Addr), DocHost, host)
}
