package prefetch

import "testing"

func TestHighestMatching(t *testing.T) {
	versions := []string{"0.1.0", "0.1.5", "0.2.0", "1.0.0", "1.2.3", "1.2.9", "1.3.0-beta.1", "1.3.0", "1.10.0", "2.0.0-rc.1", "2.0.0", "2.1.0"}
	f := func(rng, want string) {
		t.Helper()
		r, err := parseRange(rng)
		if err != nil {
			t.Fatalf("%q: %v", rng, err)
		}
		got, ok := highest(r, versions)
		if !ok {
			got = "none"
		}
		if got != want {
			t.Fatalf("%q -> %s, want %s", rng, got, want)
		}
	}
	f("", "2.1.0")
	f("*", "2.1.0")
	f("1.2.3", "1.2.3")
	f("=1.2.3", "1.2.3")
	f("^1.2.3", "1.10.0")
	f("^1.2", "1.10.0")
	f("^0.1.0", "0.1.5")
	f("^0.0.1", "none")
	f("~1.2.3", "1.2.9")
	f("~1", "1.10.0")
	f("1.x", "1.10.0")
	f("1.2.x", "1.2.9")
	f("1", "1.10.0")
	f(">=1.2.4 <1.3.0", "1.2.9")
	f(">= 1.0.0 < 2", "1.10.0")
	f(">1.2", "2.1.0")
	f(">1.2 <2", "1.10.0")
	f("<1.2", "1.0.0")
	f("<=1.2", "1.2.9")
	f("<1.3.0", "1.2.9") // not 1.3.0-beta.1
	f(">=1.3.0-beta.0 <1.3.0", "1.3.0-beta.1")
	f("1.0.0 - 1.2", "1.2.9")
	f("^3 || ~0.2", "0.2.0")
	f("^2.0.0-rc.0", "2.1.0")
	f("^9", "none")
}

func TestParseRangeRefuses(t *testing.T) {
	for _, s := range []string{"1.2.3.4", "^a", ">=1-beta", "1 - ", "~>x.1.q"} {
		if _, err := parseRange(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
}
