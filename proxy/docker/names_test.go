package docker

import (
	"strings"
	"testing"
)

func TestParsePath(t *testing.T) {
	f := func(path, name, kind, ref string) {
		t.Helper()
		r, err := parsePath(path)
		if name == "" {
			if err == nil {
				t.Errorf("parsePath(%q) = %+v, want error", path, r)
			}
			return
		}
		if err != nil || r.name != name || r.kind != kind || r.ref != ref {
			t.Errorf("parsePath(%q) = %+v, %v; want %s %s %s", path, r, err, name, kind, ref)
		}
	}
	f("/v2/nginx/manifests/latest", "nginx", "manifests", "latest")
	f("/v2/library/nginx/blobs/sha256:abc", "library/nginx", "blobs", "sha256:abc")
	f("/v2/a/manifests/b/manifests/c", "a/manifests/b", "manifests", "c")
	f("/v2/a/blobs/tags/list", "a/blobs", "tags", "")
	f("/v2/ghcr.io/org/img/tags/list", "ghcr.io/org/img", "tags", "")
	f("/v2/app/blobs/uploads/", "app", "uploads", "")
	f("/v2/app/blobs/uploads", "app", "uploads", "")
	f("/v2/a/b/blobs/uploads/0123abcd", "a/b", "uploads", "0123abcd")
	f("/v2/a/blobs/uploads/x/y", "", "", "")
	f("/v2/a/referrers/sha256:abc", "a", "referrers", "sha256:abc")
	f("/v2/nginx/manifests/", "", "", "")
	f("/v2/nginx", "", "", "")
	f("/v3/nginx/manifests/latest", "", "", "")
	f("/v2//manifests/x", "", "", "")
}

func TestValidName(t *testing.T) {
	f := func(name string, ok bool) {
		t.Helper()
		if validName(name) != ok {
			t.Errorf("validName(%q) = %v", name, !ok)
		}
	}
	f("nginx", true)
	f("library/nginx", true)
	f("a.b-c__d/e", true)
	f("ghcr.io/org/img", true)
	f("Nginx", false)
	f("../etc", false)
	f("a//b", false)
	f("a/", false)
	f("-a", false)
	f("a/_tags", false)
	f(strings.Repeat("a", 256), false)
}

func TestResolve(t *testing.T) {
	h := &Handler{byName: map[string]*upstreamRepo{}}
	for _, n := range []string{"docker.io", "ghcr.io"} {
		u := &upstreamRepo{cfg: UpstreamConfig{Name: n}}
		h.upstreams = append(h.upstreams, u)
		h.byName[n] = u
	}
	f := func(name, ns, up, repo string) {
		t.Helper()
		rt, err := h.resolve(name, ns)
		if up == "" {
			if err == nil {
				t.Errorf("resolve(%q, %q) routed to %s", name, ns, rt.up.cfg.Name)
			}
			return
		}
		if err != nil || rt.up.cfg.Name != up || rt.repo != repo {
			t.Errorf("resolve(%q, %q) = %v %+v", name, ns, err, rt)
		}
	}
	f("nginx", "", "docker.io", "library/nginx")
	f("library/nginx", "", "docker.io", "library/nginx")
	f("bitnami/redis", "", "docker.io", "bitnami/redis")
	f("nginx", "docker.io", "docker.io", "library/nginx")
	f("org/img", "ghcr.io", "ghcr.io", "org/img")
	f("ghcr.io/org/img", "", "ghcr.io", "org/img")
	f("docker.io/nginx", "", "docker.io", "library/nginx")
	f("nginx", "quay.io", "", "")
	// A registry host with no upstream is refused as its ?ns= is, not
	// asked of Docker Hub.
	f("quay.io/org/img", "", "", "")
	f("localhost/img", "", "", "")
	f("registry.example/img", "", "", "")
	f("quay.io", "", "docker.io", "library/quay.io")
	f("localhost", "", "docker.io", "library/localhost")
	f("quay.io/org/img", "ghcr.io", "ghcr.io", "quay.io/org/img")

	// The two forms give the same answer.
	_, errPath := h.resolve("quay.io/org/img", "")
	_, errNS := h.resolve("org/img", "quay.io")
	if errPath == nil || errNS == nil || errPath.Error() != errNS.Error() || !strings.Contains(errPath.Error(), `name = "quay.io"`) {
		t.Errorf("path form: %v; ?ns= form: %v", errPath, errNS)
	}
	// With no upstream at all every name is refused.
	if _, err := (&Handler{}).resolve("nginx", ""); err == nil {
		t.Error("resolved a name without upstreams")
	}
}

func TestHostedNames(t *testing.T) {
	ps, err := compileNames([]string{"acme/*", "site/**", "tools-?"})
	if err != nil {
		t.Fatal(err)
	}
	h := &Handler{claims: ps}
	f := func(name string, want bool) {
		t.Helper()
		if h.claimed(name) != want {
			t.Errorf("claimed(%q) = %v", name, !want)
		}
	}
	f("acme/app", true)
	f("acme/app/sub", false) // '*' stops at '/'
	f("acme", false)
	f("site/a/b/c", true)
	f("tools-a", true)
	f("tools-ab", false)
	f("library/nginx", false)

	for _, bad := range []string{"", "acme/[", "{a"} {
		if err := (Config{HostedNames: []string{bad}}).Check(); err == nil {
			t.Errorf("hosted_names %q passed the check", bad)
		}
	}
	if err := (Config{HostedNames: []string{"acme/**"}}).Check(); err != nil {
		t.Error(err)
	}
}

func FuzzParsePath(f *testing.F) {
	for _, s := range []string{"/v2/nginx/manifests/latest", "/v2/a/blobs/sha256:0", "/v2/x/tags/list", "/v2/../../etc/passwd/manifests/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		r, err := parsePath(path)
		if err != nil {
			return
		}
		if !validName(r.name) {
			return
		}
		// A valid name never climbs out of its key space.
		for _, part := range strings.Split(r.name, "/") {
			if part == "" || part == "." || part == ".." || strings.HasPrefix(part, "_") {
				t.Fatalf("valid name %q has segment %q", r.name, part)
			}
		}
		if r.kind != "tags" && strings.Contains(r.ref, "/") {
			t.Fatalf("ref %q has a slash", r.ref)
		}
	})
}

func FuzzParseDigest(f *testing.F) {
	for _, s := range []string{"sha256:" + strings.Repeat("a", 64), "sha512:" + strings.Repeat("0", 128), "sha256:xyz", "md5:00", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := parseDigest(s)
		if err != nil {
			return
		}
		if d.Validate() != nil || strings.ContainsAny(d.Encoded(), "/.") {
			t.Fatalf("accepted bad digest %q", s)
		}
	})
}

func FuzzTagRef(f *testing.F) {
	for _, s := range []string{"latest", "v1.2.3", "..", "_x", strings.Repeat("t", 129)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if validTag(s) && (strings.ContainsAny(s, "/\x00") || s == "." || s == ".." || len(s) > 128) {
			t.Fatalf("accepted bad tag %q", s)
		}
	})
}

// FuzzResolve: a name whose first element is a registry host reaches only
// the upstream of that name, never the default one under a name nobody
// meant.
func FuzzResolve(f *testing.F) {
	for _, s := range []string{"nginx", "ghcr.io/org/img", "quay.io/x", "localhost/a/b", "library/nginx", "a.b"} {
		f.Add(s, "")
	}
	f.Add("org/img", "quay.io")
	h := &Handler{byName: map[string]*upstreamRepo{}}
	for _, n := range []string{"docker.io", "ghcr.io"} {
		u := &upstreamRepo{cfg: UpstreamConfig{Name: n}}
		h.upstreams = append(h.upstreams, u)
		h.byName[n] = u
	}
	f.Fuzz(func(t *testing.T, name, ns string) {
		if !validName(name) {
			return
		}
		rt, err := h.resolve(name, ns)
		if err != nil {
			return
		}
		first, _, nested := strings.Cut(name, "/")
		switch {
		case ns != "" && rt.up.cfg.Name != ns:
			t.Fatalf("resolve(%q, %q) went to %s", name, ns, rt.up.cfg.Name)
		case ns == "" && nested && hostLike(first) && rt.up.cfg.Name != first:
			t.Fatalf("resolve(%q) went to %s", name, rt.up.cfg.Name)
		}
	})
}
