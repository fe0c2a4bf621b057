package upstream

import (
	"fmt"
	"testing"
)

func TestParseChallenges(t *testing.T) {
	f := func(want string, values ...string) {
		t.Helper()
		if got := fmt.Sprint(parseChallenges(values)); got != want {
			t.Fatalf("%q:\n got %s\nwant %s", values, got, want)
		}
	}
	f(`[{bearer map[realm:http://127.0.0.1:1/token scope:repository:a/b:pull,push service:reg]}]`,
		`Bearer realm="http://127.0.0.1:1/token",service="reg",scope="repository:a/b:pull,push"`)
	f(`[{basic map[realm:x]} {bearer map[realm:y]}]`, `Basic realm="x", Bearer realm=y`)
	f(`[{basic map[realm:r]} {bearer map[realm:q"uote]}]`, `Basic realm=r`, `BEARER Realm = "q\"uote"`)
	f(`[{bearer map[realm:unterminated]}]`, `Bearer realm="unterminated`)
	f(`[{basic map[dxnlcjpwyxnz:]}]`, `Basic dXNlcjpwYXNz==`)
	f(`[]`, ``, ` , `)
	f(`[]`, `realm="orphan param"`)
}

func FuzzParseChallenges(f *testing.F) {
	f.Add(`Bearer realm="http://127.0.0.1/token",service="s",scope="repository:a:pull"`)
	f.Add(`Basic realm="x", Bearer realm=y,error="invalid_token"`)
	f.Add(`"\`)
	f.Fuzz(func(t *testing.T, s string) {
		for _, c := range parseChallenges([]string{s}) {
			if c.scheme == "" || c.params == nil {
				t.Fatalf("%q: bad challenge %+v", s, c)
			}
		}
	})
}

func FuzzParseRateLimitRemaining(f *testing.F) {
	f.Add("76;w=21600")
	f.Add("1, 2;w=3")
	f.Fuzz(func(t *testing.T, s string) {
		if n, ok := parseRateLimitRemaining(s); n < 0 || !ok && n != 0 {
			t.Fatalf("%q: %d %v", s, n, ok)
		}
	})
}
