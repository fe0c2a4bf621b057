package tenant

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"strings"
	"testing"
)

// chunkReader records the largest read asked of it.
type chunkReader struct {
	r   io.Reader
	max int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	c.max = max(c.max, len(p))
	return c.r.Read(p)
}

func TestThrottle(t *testing.T) {
	s := mustNew(t, Options{Tenants: []Config{
		{Name: "fast", Prefixes: []string{"f/**"}, RateLimit: RateLimit{Bandwidth: 1 << 40}},
		{Name: "slow", Prefixes: []string{"s/**"}, RateLimit: RateLimit{Bandwidth: 1000}},
		{Name: "free", Prefixes: []string{"x/**"}},
	}})
	body := make([]byte, 3<<20)
	rand.Read(body)
	src := &chunkReader{r: bytes.NewReader(body)}
	fast := s.Lookup("fast")
	got, err := io.ReadAll(fast.Throttle(t.Context(), src))
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("read %d bytes intact=%v, %v", len(got), bytes.Equal(got, body), err)
	}
	if src.max > fast.bw.Burst() {
		t.Errorf("a read of %d bytes, over the burst %d", src.max, fast.bw.Burst())
	}

	// A slow tenant's fill reads one burst at a time: the first is
	// there at once.
	slow := s.Lookup("slow")
	if got := slow.bw.Burst(); got != minBandwidthBurst {
		t.Errorf("burst = %d, want %d", got, minBandwidthBurst)
	}
	n, err := slow.Throttle(t.Context(), strings.NewReader(strings.Repeat("z", 1<<20))).Read(make([]byte, 1<<20))
	if n != minBandwidthBurst || err != nil {
		t.Fatalf("Read = %d, %v; want %d, nil", n, err, minBandwidthBurst)
	}
	// One whose client is gone stops at once, reading nothing more.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	up := strings.NewReader(strings.Repeat("z", 1<<20))
	n, err = slow.Throttle(ctx, up).Read(make([]byte, 1<<20))
	if n != 0 || !errors.Is(err, context.Canceled) {
		t.Fatalf("Read = %d, %v; want 0, context.Canceled", n, err)
	}
	if up.Len() != 1<<20 {
		t.Errorf("%d bytes read from upstream for a cancelled fill", 1<<20-up.Len())
	}

	r := strings.NewReader("x")
	if s.Lookup("free").Throttle(t.Context(), r) != r {
		t.Error("Throttle wraps the reader of a tenant without a bandwidth")
	}
}
