package httpx

import (
	"errors"
	"fmt"
	"testing"

	"nora/internal/fault"
)

func TestETagListMatches(t *testing.T) {
	f := func(header, etag string, want bool) {
		t.Helper()
		if got := etagListMatches([]byte(header), etag); got != want {
			t.Errorf("etagListMatches(%q, %q) = %v, want %v", header, etag, got, want)
		}
	}
	f(`"abc"`, `"abc"`, true)
	f(`W/"abc"`, `"abc"`, true)
	f(`"x", W/"abc" ,"y"`, `"abc"`, true)
	f(`*`, `"abc"`, true)
	f(`"abcd"`, `"abc"`, false)
	f(`"ab"`, `"abc"`, false)
	f(``, `"abc"`, false)
	f(`"abc"`, ``, false)
	f(`abc`, `"abc"`, false)
}

func TestStatus(t *testing.T) {
	f := func(err error, want int) {
		t.Helper()
		if got := Status(err); got != want {
			t.Errorf("Status(%v) = %d, want %d", err, got, want)
		}
	}
	f(fault.New(fault.NotFound, "x"), 404)
	f(fmt.Errorf("cannot serve: %w", fault.New(fault.RateLimited, "x")), 429)
	f(fault.NoSpace, 507)
	f(fault.Gone, 410)
	f(errors.New("unclassified"), 500)
}
