package maven

import (
	"slices"
	"testing"
)

func TestCompareVersions(t *testing.T) {
	sign := func(n int) int { return max(-1, min(1, n)) }
	f := func(a, b string, want int) {
		t.Helper()
		if got := sign(CompareVersions(a, b)); got != want {
			t.Fatalf("CompareVersions(%q, %q) = %d, want %d", a, b, got, want)
		}
		if got := sign(CompareVersions(b, a)); got != -want {
			t.Fatalf("CompareVersions(%q, %q) = %d, want %d", b, a, got, -want)
		}
	}
	f("1", "1", 0)
	f("1", "1.0", 0)
	f("1.0.0", "1", 0)
	f("1-ga", "1", 0)
	f("1.0-final", "1.0", 0)
	f("1.0-RELEASE", "1.0", 0)
	f("1.0-cr1", "1.0-rc1", 0)
	f("1.0-a1", "1.0-alpha-1", 0)
	f("1.0-b2", "1.0-beta-2", 0)
	f("1.0-M3", "1.0-milestone-3", 0)
	f("1.0-SNAPSHOT", "1.0-snapshot", 0)
	f("1", "2", -1)
	f("1.9", "1.10", -1)
	f("1.0", "1.0.1", -1)
	f("1.0-alpha1", "1.0-beta1", -1)
	f("1.0-beta1", "1.0-milestone1", -1)
	f("1.0-milestone1", "1.0-rc1", -1)
	f("1.0-rc1", "1.0-SNAPSHOT", -1)
	f("1.0-SNAPSHOT", "1.0", -1)
	f("1.0", "1.0-sp1", -1)
	f("1.0-sp1", "1.0-whatever", -1)
	f("1.0-whatever", "1.0.1", -1)
	f("1.0", "1.1-SNAPSHOT", -1)
	f("1.1-SNAPSHOT", "1.1", -1)
	f("1", "1-1", -1)
	f("1-1", "1.1", -1)
	f("1.0-alpha-1", "1.0-alpha-2", -1)
	f("2.0", "10.0", -1)
	f("1.0.0.1", "1.0.1", -1)
	f("99999999999999999999", "100000000000000000000", -1)
	f("1.007", "1.7", 0)
	f("debian", "1.0", -1)

	got := []string{"1.10", "1.0-SNAPSHOT", "1.2", "1.0", "9.9", "1.0-rc1", "1.1-SNAPSHOT"}
	slices.SortFunc(got, CompareVersions)
	want := []string{"1.0-rc1", "1.0-SNAPSHOT", "1.0", "1.1-SNAPSHOT", "1.2", "1.10", "9.9"}
	if !slices.Equal(got, want) {
		t.Fatalf("sorted %v, want %v", got, want)
	}
}

// FuzzCompareVersions: any two strings compare without panicking, and the
// order is antisymmetric and reflexive, or sorting would be meaningless.
func FuzzCompareVersions(f *testing.F) {
	for _, s := range [][2]string{{"1.0", "1.0-SNAPSHOT"}, {"1-a1", "1.a.1"}, {"--..", "."}, {"1.0.X1", "1.0-X2"}, {"", "0"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		ab, ba := CompareVersions(a, b), CompareVersions(b, a)
		if (ab < 0) != (ba > 0) || (ab == 0) != (ba == 0) {
			t.Fatalf("not antisymmetric: %q vs %q: %d, %d", a, b, ab, ba)
		}
		if CompareVersions(a, a) != 0 {
			t.Fatalf("%q != itself", a)
		}
	})
}
