package auth

import "testing"

func TestPermission(t *testing.T) {
	f := func(perm string, action Action, format, name string, want bool) {
		t.Helper()
		p, err := ParsePermission(perm)
		if err != nil {
			t.Fatalf("ParsePermission(%q): %v", perm, err)
		}
		if got := p.Grants(action, format, name); got != want {
			t.Errorf("%q grants %s %s %q = %v, want %v", perm, action, format, name, got, want)
		}
	}
	f("pull:**", Pull, "docker", "library/nginx", true)
	f("pull:*", Pull, "docker", "library/nginx", false)
	f("pull:*", Pull, "npm", "lodash", true)
	f("push:frontend/*", Push, "docker", "frontend/app", true)
	f("push:frontend/*", Pull, "docker", "frontend/app", true) // push implies pull
	f("push:frontend/*", Delete, "docker", "frontend/app", false)
	f("push:frontend/*", Push, "docker", "backend/x", false)
	f("push:frontend/*", Push, "docker", "frontend/a/b", false)
	f("push:frontend/**", Push, "docker", "frontend/a/b", true)
	f("admin:**", Delete, "maven", "com.acme:lib", true)
	f("push:npm:@frontend/*", Push, "npm", "@frontend/ui", true)
	f("push:npm:@frontend/*", Push, "docker", "@frontend/ui", false)
	f("delete:**", Push, "npm", "x", false)
	f("pull:**", Push, "npm", "x", false)

	bad := func(perm string) {
		t.Helper()
		if _, err := ParsePermission(perm); err == nil {
			t.Errorf("ParsePermission(%q) accepted", perm)
		}
	}
	bad("push")
	bad("write:**")
	bad("push:rpm:**")
	bad("push:")
	bad("push:[")
}
