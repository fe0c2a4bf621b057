package replicate

import "testing"

func TestMatch(t *testing.T) {
	gs, err := parseGlobs([]string{"prod/*", "library/nginx:1.*", "@acme/lib@2.*", "com.acme:*@1.*"})
	if err != nil {
		t.Fatal(err)
	}
	m := matcher(gs)
	for _, c := range []struct {
		name, version string
		want          bool
	}{
		{"prod/app", "v1", true},
		{"prod/app/deep", "v1", false}, // "*" stays within a segment
		{"library/nginx", "1.27", true},
		{"library/nginx", "2.0", false},
		{"@acme/lib", "2.1.0", true},
		{"@acme/lib", "1.0.0", false},
		{"com.acme:lib", "1.2", true}, // a Maven name keeps its colon
		{"com.acme:lib", "2.0", false},
	} {
		if got := m(c.name, c.version); got != c.want {
			t.Errorf("%s %s: %v, want %v", c.name, c.version, got, c.want)
		}
	}
	if literalNames(gs) != nil {
		t.Error("prod/* is not a literal name")
	}
	lit, _ := parseGlobs([]string{"library/nginx:1.*", "library/redis"})
	if got := literalNames(lit); len(got) != 2 || got[0] != "library/nginx" || got[1] != "library/redis" {
		t.Errorf("literal names %v", got)
	}
	if got := forFormat(gs, "docker"); len(got) != 2 || got[1].name != "library/nginx" {
		t.Errorf("docker globs %v", got)
	}
	if got := forFormat(gs, "npm"); len(got) != 3 || got[1].name != "@acme/lib" || got[2].name != "com.acme:*" {
		t.Errorf("npm globs %v", got)
	}
	for _, bad := range [][]string{nil, {":v1"}, {"a[:v1"}} {
		if _, err := parseGlobs(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
