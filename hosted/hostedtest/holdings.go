// Package hostedtest helps the tests of the hosted registries.
package hostedtest

import (
	"context"
	"maps"
	"slices"
	"testing"

	"nora/auth/tenant"
)

// Holdings is what src reports of the names keep accepts (nil: all), as
// name -> key -> size. A key reported twice for one name fails t: one
// name holds a blob once however often it refers to it.
func Holdings(t testing.TB, src tenant.Source, keep func(string) bool) map[string]map[string]int64 {
	t.Helper()
	if keep == nil {
		keep = func(string) bool { return true }
	}
	got := map[string]map[string]int64{}
	err := src.Holdings(context.Background(), keep, func(name, key string, size int64) error {
		if got[name] == nil {
			got[name] = map[string]int64{}
		}
		if _, dup := got[name][key]; dup {
			t.Errorf("%s reports %s twice", name, key)
		}
		got[name][key] = size
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// Only is a keep that accepts name alone and records in asked every name
// it was asked about.
func Only(name string, asked *[]string) func(string) bool {
	return func(n string) bool {
		*asked = append(*asked, n)
		return n == name
	}
}

// Expect fails t unless src reports exactly want of the names keep
// accepts (nil: all).
func Expect(t testing.TB, src tenant.Source, keep func(string) bool, want map[string]map[string]int64) {
	t.Helper()
	if got := Holdings(t, src, keep); !maps.EqualFunc(got, want, maps.Equal) {
		t.Fatalf("holdings %v, want %v", got, want)
	}
}

// ExpectOnly fails t unless src, asked for name alone, reports want's
// holdings of name and nothing else, and asks its keep about each name of
// want, in order, once: want names every hosted name.
func ExpectOnly(t testing.TB, src tenant.Source, name string, want map[string]map[string]int64) {
	t.Helper()
	var asked []string
	Expect(t, src, Only(name, &asked), map[string]map[string]int64{name: want[name]})
	if all := slices.Sorted(maps.Keys(want)); !slices.Equal(asked, all) {
		t.Fatalf("keep asked about %v, want %v", asked, all)
	}
}
