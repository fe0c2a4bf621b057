package pypi

import "testing"

func TestMemo(t *testing.T) {
	m := newMemo[string](100) // 50 bytes per generation
	f := func(key string, want bool) {
		t.Helper()
		v, ok := m.get(key)
		if ok != want || (ok && v != "v"+key) {
			t.Fatalf("get(%q) = %q, %v; want present %v", key, v, ok, want)
		}
	}
	m.put("a", "va", 20)
	m.put("b", "vb", 20)
	f("a", true)
	f("b", true)
	m.put("c", "vc", 20) // a and b become the old generation
	f("c", true)
	f("a", true) // moves forward
	m.put("d", "vd", 20)
	m.put("e", "ve", 20) // c, a, d full: rotate; b was never used again
	f("b", false)
	f("e", true)
	m.put("big", "vbig", 51) // more than a generation: not kept
	f("big", false)
	f("missing", false)
}
