package httpx

import "testing"

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
