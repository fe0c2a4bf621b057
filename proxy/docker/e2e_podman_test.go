package docker_test

import (
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"nora/proxy/docker"
	"nora/proxy/proxytest"
	"nora/upstream/upstreamtest"
)

// The README's mirror configuration for podman, CRI-O, skopeo (the
// containers/image library's registries.conf), k3s and helm, against a
// nora whose upstreams are named as the README's registries.

// mirrored is a nora with upstreams named "docker.io" and "ghcr.io", each
// holding one image.
type mirrored struct {
	n                     *noraUnderTest
	hub, ghcr             *upstreamtest.Registry
	hubDigest, ghcrDigest string
}

func startMirrored(t *testing.T) *mirrored {
	t.Helper()
	m := &mirrored{hub: upstreamtest.New(t, upstreamtest.Options{}), ghcr: upstreamtest.New(t, upstreamtest.Options{})}
	m.hubDigest = digestOf(t, m.hub.PushRandomImage(t, "library/app", "1", 1, 32<<10))
	m.ghcrDigest = digestOf(t, m.ghcr.PushRandomImage(t, "org/img", "1", 1, 32<<10))
	m.n = startNora(t, options{upstreams: []docker.UpstreamConfig{
		{Name: "docker.io", URL: m.hub.URL},
		{Name: "ghcr.io", URL: m.ghcr.URL},
	}})
	return m
}

// registriesConf writes the README's registries.conf with the test nora's
// address and returns its path.
func (m *mirrored) registriesConf(t *testing.T) string {
	t.Helper()
	conf := filepath.Join(t.TempDir(), "registries.conf")
	if err := os.WriteFile(conf, []byte(m.n.Local(proxytest.Snippet(t, `prefix = "docker.io"`))), 0o600); err != nil {
		t.Fatal(err)
	}
	return conf
}

// checkMirrorsUsed requires both upstreams to have been reached, through
// nora: the clients' own fallback goes to the real registries, which this
// machine cannot reach.
func (m *mirrored) checkMirrorsUsed(t *testing.T) {
	t.Helper()
	if m.hub.Requests() == 0 || m.ghcr.Requests() == 0 {
		t.Fatalf("upstream requests: docker.io %d, ghcr.io %d; want both through nora", m.hub.Requests(), m.ghcr.Requests())
	}
}

func TestSkopeoRegistriesConfMirror(t *testing.T) {
	m := startMirrored(t)
	conf := m.registriesConf(t)
	c := newCLI(t, m.n.Addr, "", "")
	for ref, want := range map[string]string{
		"docker.io/library/app:1": m.hubDigest,
		"docker.io/app:1":         m.hubDigest,
		"ghcr.io/org/img:1":       m.ghcrDigest,
	} {
		got := c.mustSkopeo("--registries-conf", conf, "inspect", "--no-tags", "--format", "{{.Digest}}", "docker://"+ref)
		if got != want {
			t.Fatalf("skopeo inspect %s through the mirror: %s, want %s", ref, got, want)
		}
	}
	m.checkMirrorsUsed(t)
}

// TestPodmanPullMirror pulls into a storage of its own (vfs: no overlay
// mount needed); a pull needs no container runtime.
func TestPodmanPullMirror(t *testing.T) {
	podman, err := exec.LookPath("podman")
	if err != nil {
		t.Fatalf("podman is not installed (.ci/setup-clients.sh installs it): %v", err)
	}
	m := startMirrored(t)
	conf := m.registriesConf(t)
	home := t.TempDir()
	policy := filepath.Join(home, "policy.json")
	if err := os.WriteFile(policy, []byte(`{"default":[{"type":"insecureAcceptAnything"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	root, runroot := filepath.Join(home, "root"), filepath.Join(home, "run")
	storage := filepath.Join(home, "storage.conf")
	sconf := "[storage]\ndriver = \"vfs\"\ngraphroot = \"" + root + "\"\nrunroot = \"" + runroot + "\"\n"
	if err := os.WriteFile(storage, []byte(sconf), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, "containers.conf"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(podman, append([]string{"--root", root, "--runroot", runroot,
			"--storage-driver", "vfs", "--cgroup-manager", "cgroupfs", "--events-backend", "none"}, args...)...)
		cmd.Env = proxytest.Env(home, "CONTAINERS_REGISTRIES_CONF="+conf, "CONTAINERS_STORAGE_CONF="+storage,
			"CONTAINERS_CONF="+filepath.Join(home, "containers.conf"), "XDG_RUNTIME_DIR="+filepath.Join(home, "xdg"))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("podman %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	for ref, want := range map[string]string{
		"docker.io/library/app:1": m.hubDigest,
		"ghcr.io/org/img:1":       m.ghcrDigest,
	} {
		run("pull", "--quiet", "--signature-policy", policy, ref)
		if got := run("image", "inspect", "--format", "{{.Digest}}", ref); got != want {
			t.Fatalf("podman pulled %s as %s, want %s", ref, got, want)
		}
	}
	m.checkMirrorsUsed(t)
}

// TestK3sRegistriesYAML: k3s is not installable here; its containerd asks
// each endpoint for /v2/<repo>/... with ?ns=<registry>, so the test sends
// what containerd would send to every endpoint the README lists.
func TestK3sRegistriesYAML(t *testing.T) {
	m := startMirrored(t)
	images := map[string]struct{ repo, digest string }{
		"docker.io": {"library/app", m.hubDigest},
		"ghcr.io":   {"org/img", m.ghcrDigest},
	}
	seen := map[string]bool{}
	var registry string
	for _, line := range strings.Split(proxytest.Snippet(t, "endpoint:"), "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "  ") && !strings.HasPrefix(line, "   ") && strings.HasSuffix(trimmed, ":"):
			registry = strings.Trim(strings.TrimSuffix(trimmed, ":"), `"`)
		case strings.HasPrefix(trimmed, "- "):
			endpoint := strings.Trim(strings.TrimPrefix(trimmed, "- "), `"`)
			u, err := url.Parse(endpoint)
			if err != nil || u.Scheme != "http" || u.Host != proxytest.DocAddr || strings.Trim(u.Path, "/") != "" {
				t.Fatalf("%s endpoint %q: want http://%s, no path (containerd adds /v2 and ?ns=)", registry, endpoint, proxytest.DocAddr)
			}
			img, ok := images[registry]
			if !ok {
				t.Fatalf("README mirrors %q, which this test has no upstream for", registry)
			}
			ep := m.n.Local(endpoint)
			resp, body := do(t, "GET", ep+"/v2/"+img.repo+"/manifests/1?ns="+registry, "", "",
				map[string]string{"Accept": "application/vnd.oci.image.manifest.v1+json,application/vnd.docker.distribution.manifest.v2+json"}, nil)
			if resp.StatusCode != 200 || resp.Header.Get("Docker-Content-Digest") != img.digest {
				t.Fatalf("%s through %s: %d %s %s", registry, endpoint, resp.StatusCode, resp.Header.Get("Docker-Content-Digest"), body)
			}
			seen[registry] = true
		}
	}
	if len(seen) != len(images) {
		t.Fatalf("README's registries.yaml mirrors %v, want %d registries", seen, len(images))
	}
}

// TestHelmOCIShape: helm is not packaged for Debian 12, and building it
// takes longer than CI allows, so its commands are checked for shape: the
// push and pull references are OCI names nora serves (the ghcr.io pull
// through the upstream of that name), with --plain-http.
func TestHelmOCIShape(t *testing.T) {
	m := startMirrored(t)
	pull := proxytest.Inline(t, "helm pull oci://")
	push := proxytest.Snippet(t, "helm push ")
	for _, cmd := range []string{pull, push} {
		if !strings.Contains(cmd, "--plain-http") {
			t.Fatalf("helm command without --plain-http: %q", cmd)
		}
	}
	if !strings.Contains(push, "helm registry login "+proxytest.DocAddr+" --insecure") {
		t.Fatalf("helm push snippet does not log in to %s with --insecure:\n%s", proxytest.DocAddr, push)
	}
	// oci://nora.local:4000/ghcr.io/<repo> is /v2/ghcr.io/<repo>/ on nora.
	fields := strings.Fields(pull)
	ref := strings.TrimPrefix(fields[2], "oci://"+proxytest.DocAddr+"/ghcr.io/")
	if ref == fields[2] || !strings.Contains(pull, "--version ") {
		t.Fatalf("helm pull %q: want oci://%s/ghcr.io/<chart> --version <v>", pull, proxytest.DocAddr)
	}
	m.ghcr.PushRandomImage(t, ref, "1.2.0", 1, 1<<10)
	resp, _ := do(t, "GET", m.n.url("/v2/ghcr.io/"+ref+"/manifests/1.2.0"), "", "",
		map[string]string{"Accept": "application/vnd.oci.image.manifest.v1+json,application/vnd.docker.distribution.manifest.v2+json"}, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("the chart helm pull names, through nora: %d", resp.StatusCode)
	}
	// helm push <chart>.tgz oci://host/charts writes host/charts/<name>:<version>.
	for _, line := range strings.Split(push, "\n") {
		if f := strings.Fields(line); len(f) >= 4 && f[1] == "push" {
			if f[3] != "oci://"+proxytest.DocAddr+"/charts" {
				t.Fatalf("helm push target %q", f[3])
			}
			c := newCLI(t, m.n.Addr, testUser, testPass)
			c.mustSkopeo("copy", "--dest-creds", testUser+":"+testPass, "--dest-tls-verify=false",
				"oci:"+ociLayout(t, chartImage(t), "0.1.0"), "docker://"+m.n.Local(strings.TrimPrefix(f[3], "oci://"))+"/app:0.1.0")
			return
		}
	}
	t.Fatalf("no helm push line in:\n%s", push)
}
