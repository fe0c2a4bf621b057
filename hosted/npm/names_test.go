package npm

import "testing"

func TestValidName(t *testing.T) {
	f := func(name string, want bool) {
		t.Helper()
		if got := ValidName(name); got != want {
			t.Fatalf("ValidName(%q) = %v, want %v", name, got, want)
		}
	}
	f("lodash", true)
	f("@babel/core", true)
	f("@acme/_internal", true)
	f("a.b-c_d~e", true)
	f("-", true)
	f("", false)
	f("@", false)
	f("@/x", false)
	f("@x/", false)
	f("@x/y/z", false)
	f("a/b", false)
	f("@x/.y", false)
	f("@.x/y", false)
	f("a b", false)
	f("a:b", false)
	f("a%b", false)
	f("é", false)
	f("favicon.ico", false)
}
