package tenant

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"nora/internal/fault"
)

// quotaSet has team-a (quota 100 B, 60 used) and team-b (no quota).
func quotaSet(t *testing.T) (*Set, *memSource) {
	s := mustNew(t, Options{Tenants: []Config{
		{Name: "team-a", Prefixes: []string{"a/**"}, StorageQuota: 100},
		{Name: "team-b", Prefixes: []string{"b/**"}},
	}})
	src := newMemSource()
	src.put("a/x", "k1", 60)
	src.put("b/x", "k2", 1000)
	s.AddSource("docker", src)
	return s, src
}

func denied(t *testing.T, err error, msg string) {
	t.Helper()
	if !errors.Is(err, fault.Denied) {
		t.Fatalf("err = %v, want a denial", err)
	}
	if got := fault.Message(err); got != msg {
		t.Errorf("message = %q, want %q", got, msg)
	}
}

func TestReserve(t *testing.T) {
	s, src := quotaSet(t)
	ctx := t.Context()
	if err := s.Reserve(ctx, "docker", "a/y", 0, 40); err != nil {
		t.Fatal(err)
	}
	if err := s.Reserve(ctx, "docker", "a/y", 30, 10); err != nil {
		t.Fatal(err)
	}
	denied(t, s.Reserve(ctx, "docker", "a/y", 0, 41), "tenant team-a is over its storage quota of 100 B (uses 60 B, this upload adds 41 B)")
	denied(t, s.Reserve(ctx, "docker", "a/y", 40, 1), "tenant team-a is over its storage quota of 100 B (uses 60 B, this upload adds 41 B)")
	if err := s.Reserve(ctx, "docker", "b/y", 0, 1<<40); err != nil {
		t.Fatalf("a tenant without a quota: %v", err)
	}
	// A store that cannot count does not stop pushes.
	src.err = errStore
	s.Recount()
	if err := s.Reserve(ctx, "docker", "a/y", 0, 1000); err != nil {
		t.Fatalf("Reserve while the usage fails: %v", err)
	}
	r := strings.NewReader("x")
	if s.Limit(ctx, "docker", "a/y", 0, r) != r {
		t.Fatal("Limit while the usage fails cuts the reader")
	}
}

// countingReader counts the bytes read from it.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func TestLimit(t *testing.T) {
	s, _ := quotaSet(t)
	f := func(already, size int64, wantErr string) {
		t.Helper()
		body := bytes.Repeat([]byte("x"), int(size))
		src := &countingReader{r: bytes.NewReader(body)}
		got, err := io.ReadAll(s.Limit(t.Context(), "docker", "a/y", already, src))
		if wantErr == "" {
			if err != nil || !bytes.Equal(got, body) {
				t.Fatalf("already %d, %d bytes: read %d, %v", already, size, len(got), err)
			}
			return
		}
		denied(t, err, wantErr)
		room := max(100-60-already, 0)
		if int64(len(got)) > room || int64(src.n) > room+1 {
			t.Errorf("already %d: %d bytes passed, %d read, want at most %d and %d", already, len(got), src.n, room, room+1)
		}
	}
	f(0, 40, "")
	f(0, 41, "tenant team-a is over its storage quota of 100 B (uses 60 B, this upload adds 41 B)")
	f(0, 10000, "tenant team-a is over its storage quota of 100 B (uses 60 B, this upload adds 41 B)")
	f(30, 10, "")
	f(30, 11, "tenant team-a is over its storage quota of 100 B (uses 60 B, this upload adds 41 B)")
	f(40, 0, "")
	f(41, 0, "tenant team-a is over its storage quota of 100 B (uses 60 B, this upload adds 41 B)")
	f(41, 1, "tenant team-a is over its storage quota of 100 B (uses 60 B, this upload adds 41 B)")

	// A wrapped refusal keeps its kind and message.
	_, err := io.Copy(io.Discard, s.Limit(t.Context(), "docker", "a/y", 0, strings.NewReader(strings.Repeat("y", 50))))
	wrapped := errors.Join(errors.New("cannot store upload"), err)
	denied(t, wrapped, "tenant team-a is over its storage quota of 100 B (uses 60 B, this upload adds 41 B)")

	r := strings.NewReader("x")
	if s.Limit(t.Context(), "docker", "b/y", 0, r) != r {
		t.Error("Limit wraps the reader of a tenant without a quota")
	}
}

func TestHumanSize(t *testing.T) {
	f := func(n int64, want string) {
		t.Helper()
		if got := humanSize(n); got != want {
			t.Errorf("humanSize(%d) = %q, want %q", n, got, want)
		}
	}
	f(0, "0 B")
	f(999, "999 B")
	f(1000, "1.0 KB")
	f(200e6, "200.0 MB")
	f(49.9e9, "49.9 GB")
	f(50e9, "50.0 GB")
	f(3e15, "3.0 PB")
}
