package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/opencontainers/go-digest"

	"nora/cache"
	"nora/proxy/inventory"
	"nora/proxy/npm/npmtest"
	"nora/proxy/proxytest"
	"nora/proxy/pypi/pypitest"
)

// box is a nora with hosted content and content cached from another nora
// (its upstream), driven by the CLI in process.
type box struct {
	t      *testing.T
	config string
	url    string      // its listener
	data   string      // its storage path
	up     hostedItems // what the upstream has
}

// startBox starts an upstream nora with an image (up/acme/app:1) and an
// npm package (@acme/lib 1.0.0) published, and the box in front of it:
// docker and npm proxied from the upstream, hosted pushes for mgUser.
func startBox(t *testing.T) *box {
	t.Helper()
	upURL, _ := startStoppable(t, mgConfig(t, diskStorage(t)))
	items := publishAll(t, upURL)
	sock, err := os.MkdirTemp("", "nora-inv")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sock) })
	b := &box{t: t, data: t.TempDir(), up: items}
	b.config = writeConfig(t, fmt.Sprintf("[server]\nlisten = \"127.0.0.1:0\"\nadmin_socket = %q\n[storage]\npath = %q\n"+
		"[docker]\n[[docker.upstreams]]\nname = \"up\"\nurl = %q\n[npm]\nupstream = %q\n[pypi]\noffline = true\n"+
		"[maven]\nupstreams = []\n[cargo]\noffline = true\n[auth]\nhtpasswd = %q\n",
		filepath.Join(sock, "admin.sock"), b.data, upURL, upURL+"/npm/", proxytest.Htpasswd(t, mgUser, mgPass)))
	b.url, _ = startStoppable(t, b.config)
	return b
}

// nora runs the CLI on the box's config; it returns stdout and, on a
// non-zero exit, an error with the code and stderr.
func (b *box) nora(args ...string) (string, error) {
	code, out, errOut := noraCmd(append(args, "--config", b.config)...)
	if code != 0 {
		return out, fmt.Errorf("exit %d: %s", code, errOut)
	}
	return out, nil
}

func (b *box) must(args ...string) string {
	b.t.Helper()
	out, err := b.nora(args...)
	if err != nil {
		b.t.Fatalf("nora %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// fails runs a command that must exit 1 with an error containing want.
func (b *box) fails(want string, args ...string) {
	b.t.Helper()
	out, err := b.nora(args...)
	if err == nil || !strings.HasPrefix(err.Error(), "exit 1: ") || !strings.Contains(err.Error(), want) {
		b.t.Errorf("nora %s: %v\n%s\nwant exit 1 with %q", strings.Join(args, " "), err, out, want)
	}
}

// crane runs the real crane with mgUser's login.
func (b *box) crane(args ...string) string {
	b.t.Helper()
	path, err := exec.LookPath("crane")
	if err != nil {
		b.t.Fatalf("crane is not installed: %v", err)
	}
	home := b.t.TempDir()
	cmd := exec.Command(path, append([]string{"--insecure"}, args...)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "DOCKER_CONFIG=" + home}
	cfg := fmt.Sprintf(`{"auths":{%q:{"auth":%q}}}`, strings.TrimPrefix(b.url, "http://"), base64.StdEncoding.EncodeToString([]byte(mgUser+":"+mgPass)))
	os.WriteFile(filepath.Join(home, "config.json"), []byte(cfg), 0o600)
	out, err := cmd.CombinedOutput()
	if err != nil {
		b.t.Fatalf("crane %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// pushIndex pushes an index of two platforms' images to repo:tag.
func (b *box) pushIndex(ref string) digest.Digest {
	b.t.Helper()
	var adds []mutate.IndexAddendum
	for _, p := range []v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64", Variant: "v8"}} {
		img, err := random.Image(4000, 1)
		if err != nil {
			b.t.Fatal(err)
		}
		cf, _ := img.ConfigFile()
		cf.OS, cf.Architecture, cf.Variant = p.OS, p.Architecture, p.Variant
		img, err = mutate.ConfigFile(img, cf)
		if err != nil {
			b.t.Fatal(err)
		}
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &p}})
	}
	idx := mutate.AppendManifests(empty.Index, adds...)
	tag, err := name.NewTag(strings.TrimPrefix(b.url, "http://")+"/"+ref, name.Insecure)
	if err != nil {
		b.t.Fatal(err)
	}
	if err := remote.WriteIndex(tag, idx, remote.WithAuth(&authn.Basic{Username: mgUser, Password: mgPass})); err != nil {
		b.t.Fatal(err)
	}
	d, _ := idx.Digest()
	return digest.Digest(d.String())
}

// stored tells whether the box's store holds the object with digest d.
func (b *box) stored(d digest.Digest) bool {
	_, err := os.Stat(filepath.Join(b.data, "objects", filepath.FromSlash(cache.BlobKey(d))))
	return err == nil
}

// images runs images ls --json and decodes it.
func (b *box) images(args ...string) map[string]inventory.Image {
	b.t.Helper()
	var ans struct{ Images []inventory.Image }
	out := b.must(append([]string{"images", "ls", "--json"}, args...)...)
	if err := json.Unmarshal([]byte(out), &ans); err != nil {
		b.t.Fatalf("images ls --json: %v\n%s", err, out)
	}
	m := map[string]inventory.Image{}
	for _, img := range ans.Images {
		m[img.Repository] = img
	}
	return m
}

func tagOf(img inventory.Image, tag string) (inventory.Tag, bool) {
	i := slices.IndexFunc(img.Tags, func(t inventory.Tag) bool { return t.Tag == tag })
	if i < 0 {
		return inventory.Tag{}, false
	}
	return img.Tags[i], true
}

// cached polls cache ls --json until it lists an item of format and name
// (a fill stores its bytes after the answer) and returns it.
func (b *box) cached(format, name string) inventory.Cached {
	b.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var ans struct{ Cached []inventory.Cached }
		out := b.must("cache", "ls", "--json", "--format", format)
		if err := json.Unmarshal([]byte(out), &ans); err != nil {
			b.t.Fatalf("cache ls --json: %v\n%s", err, out)
		}
		if i := slices.IndexFunc(ans.Cached, func(c inventory.Cached) bool { return c.Name == name }); i >= 0 {
			return ans.Cached[i]
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("cache ls never listed %s %s:\n%s", format, name, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// What is on the box, listed, tagged, deleted and evicted through the CLI:
// hosted images (one an index of two platforms) pushed by crane and
// go-containerregistry, a hosted npm package, and an image and a package
// pulled through from the upstream.
func TestContentCLI(t *testing.T) {
	b := startBox(t)
	host := strings.TrimPrefix(b.url, "http://")
	file := filepath.Join(t.TempDir(), "img.tar")
	img, _ := random.Image(20_000, 2)
	cf, _ := img.ConfigFile()
	cf.OS, cf.Architecture = "linux", "amd64"
	img, _ = mutate.ConfigFile(img, cf)
	tag, _ := name.NewTag("example.invalid/x:y")
	if err := tarball.WriteToFile(file, tag, img); err != nil {
		t.Fatal(err)
	}
	b.crane("push", file, host+"/box/app:1")
	idx := b.pushIndex("box/multi:1")
	tgz := npmtest.Tarball(t, "@box/tool", "2.0.0", 2000)
	mustDo(t, "PUT", b.url+"/npm/@box%2ftool", "application/json", npmPublishDoc("@box/tool", "2.0.0", tgz))
	// Pulled through: an image and an npm tarball of the upstream.
	b.crane("pull", "--format", "oci", host+"/up/acme/app:1", t.TempDir())
	mustDo(t, "GET", b.url+"/npm/@acme%2flib", "", nil)
	mustDo(t, "GET", b.url+"/npm/@acme/lib/-/lib-1.0.0.tgz", "", nil)

	imgs := b.images()
	app, ok := tagOf(imgs["box/app"], "1")
	if d, _ := img.Digest(); !ok || !imgs["box/app"].Hosted || app.Digest.String() != d.String() || app.Size < 40_000 ||
		!slices.Equal(app.Platforms, []string{"linux/amd64"}) {
		t.Errorf("box/app:1 listed as %+v (hosted %v)", app, imgs["box/app"].Hosted)
	}
	multi, ok := tagOf(imgs["box/multi"], "1")
	if !ok || multi.Digest != idx || !slices.Equal(multi.Platforms, []string{"linux/amd64", "linux/arm64/v8"}) || multi.Size < 8000 {
		t.Errorf("box/multi:1 listed as %+v", multi)
	}
	b.cached("docker", "up/acme/app")
	if up, ok := tagOf(b.images("up/acme/app")["up/acme/app"], "1"); !ok || up.LastPull.IsZero() || b.images()["up/acme/app"].Hosted {
		t.Errorf("up/acme/app:1 listed as %+v", up)
	}
	if out := b.must("images", "ls"); !strings.Contains(out, "box/multi") || !strings.Contains(out, "linux/amd64,linux/arm64/v8") {
		t.Errorf("images ls:\n%s", out)
	}
	b.fails("no image nothing/here on this nora", "images", "ls", "nothing/here")

	// Tag, then delete the tag; the manifest stays under its first tag.
	b.must("images", "tag", "box/app:1", "box/app:stable")
	if st, ok := tagOf(b.images("box/app")["box/app"], "stable"); !ok || st.Digest != app.Digest {
		t.Fatalf("box/app:stable after tag: %+v", st)
	}
	if got := b.crane("digest", host+"/box/app:stable"); got != app.Digest.String() {
		t.Errorf("crane digest box/app:stable = %s, want %s", got, app.Digest)
	}
	b.must("images", "delete", "box/app:stable")
	if _, ok := tagOf(b.images("box/app")["box/app"], "stable"); ok {
		t.Error("box/app:stable listed after delete")
	}
	b.fails("manifest unknown", "images", "delete", "box/app:stable")
	b.fails("proxied, not hosted", "images", "tag", "up/acme/app:1", "up/acme/app:2")
	b.must("images", "delete", "box/multi@"+idx.String())
	b.fails("no image box/multi", "images", "ls", "box/multi")

	// A cached image goes with its manifest and layers; the next pull
	// fetches it again.
	upImg := digest.Digest(b.up.image)
	if !b.stored(upImg) {
		t.Fatal("the pulled manifest is not in the box's store")
	}
	if out := b.must("cache", "evict", "up/acme/app:1"); !strings.Contains(out, "1 items, 4 objects") {
		t.Errorf("cache evict up/acme/app:1: %s", out)
	}
	if b.stored(upImg) {
		t.Error("the manifest is still stored after cache evict")
	}
	b.crane("pull", "--format", "oci", host+"/up/acme/app:1", t.TempDir())
	packagesAndCache(t, b, tgz)
}

// packagesAndCache lists and evicts the box's npm packages.
func packagesAndCache(t *testing.T, b *box, tgz []byte) {
	var ans struct{ Packages []inventory.Package }
	out := b.must("packages", "ls", "npm", "--json")
	if err := json.Unmarshal([]byte(out), &ans); err != nil {
		t.Fatalf("packages ls --json: %v\n%s", err, out)
	}
	pkgs := map[string]inventory.Package{}
	for _, p := range ans.Packages {
		pkgs[p.Name] = p
	}
	if p := pkgs["@box/tool"]; !p.Hosted || len(p.Versions) != 1 || p.Versions[0].Version != "2.0.0" || p.Versions[0].Size != int64(len(tgz)) {
		t.Errorf("@box/tool listed as %+v", p)
	}
	b.cached("npm", "@acme/lib")
	if p := pkgs["@acme/lib"]; p.Hosted || len(p.Versions) != 1 || p.Versions[0].Version != "1.0.0" || p.Versions[0].LastPull.IsZero() {
		t.Errorf("@acme/lib listed as %+v", p)
	}
	b.fails("no npm package nothing on this nora", "packages", "ls", "npm", "nothing")

	c := b.cached("npm", "@acme/lib")
	if c.Item != "lib-1.0.0.tgz" || c.Size == 0 {
		t.Errorf("cache ls: %+v", c)
	}
	d := digest.FromBytes(b.up.npmTgz)
	if !b.stored(d) {
		t.Fatal("the pulled tarball is not in the box's store")
	}
	if out := b.must("cache", "evict", "npm:@acme/lib"); !strings.Contains(out, "1 items, 1 objects") {
		t.Errorf("cache evict: %s", out)
	}
	if b.stored(d) {
		t.Error("the tarball is still stored after cache evict")
	}
	if got := mustDo(t, "GET", b.url+"/npm/@acme/lib/-/lib-1.0.0.tgz", "", nil); !bytes.Equal(got, b.up.npmTgz) {
		t.Errorf("the tarball fetched again after evict: %d bytes", len(got))
	}
	b.fails("hosted here", "cache", "evict", "npm:@box/tool")
	b.fails("hosted here", "cache", "evict", "box/app:1")
	b.fails("nothing cached under npm:nothing", "cache", "evict", "npm:nothing")
}

// --server and --token: every admin command asks the listener's admin API
// with an API token holding the admin permission, and fails clearly
// with one that lacks it.
func TestContentCLIRemote(t *testing.T) {
	b := startBox(t)
	b.pushIndex("box/multi:1")
	token := func(name, perm string) string {
		return strings.TrimSpace(b.must("token", "create", "--name", name, "--permissions", perm))
	}
	ops, pusher := token("ops", "admin:**"), token("ci", "push:**")
	remote := func(tok string, args ...string) []string { return append(args, "--server", b.url, "--token", tok) }

	out := b.must(remote(ops, "images", "ls", "box/multi", "--json")...)
	var ans struct{ Images []inventory.Image }
	if err := json.Unmarshal([]byte(out), &ans); err != nil || len(ans.Images) != 1 || len(ans.Images[0].Tags) != 1 {
		t.Fatalf("images ls --server: %v\n%s", err, out)
	}
	b.must(remote(ops, "images", "tag", "box/multi:1", "box/multi:2")...)
	if _, ok := tagOf(b.images("box/multi")["box/multi"], "2"); !ok {
		t.Error("images tag --server did not tag")
	}
	for _, args := range [][]string{
		{"images", "ls"}, {"packages", "ls", "npm"}, {"cache", "ls"}, {"storage", "stats"}, {"token", "list"},
		{"gc", "--dry-run"}, {"images", "delete", "box/multi:2"},
	} {
		b.fails("not allowed to admin the admin API ("+b.url+" answered 403: --token must be an API token holding the admin permission)",
			remote(pusher, args...)...)
	}
	b.must(remote(ops, "images", "delete", "box/multi:2")...)
	if _, ok := tagOf(b.images("box/multi")["box/multi"], "2"); ok {
		t.Error("images delete --server did not delete")
	}
	b.must(remote(ops, "storage", "stats")...)
	b.must(remote(ops, "gc", "--dry-run")...)
	b.fails("no image nothing/here on this nora", remote(ops, "images", "ls", "nothing/here")...)
	b.fails("--cacert", remote(ops, "images", "ls", "--cacert", filepath.Join(t.TempDir(), "none.pem"))...)
}

// nora completion writes the scripts of the three shells.
func TestCompletion(t *testing.T) {
	for sh, want := range map[string]string{"bash": "__start_nora", "zsh": "#compdef nora", "fish": "complete -c nora"} {
		code, out, errOut := noraCmd("completion", sh)
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("completion %s: exit %d, %d bytes, %s", sh, code, len(out), errOut)
		}
	}
}

// Packages published by the real npm and twine are listed with their
// versions and files.
func TestContentCLIRealClients(t *testing.T) {
	b := startBox(t)
	home := t.TempDir()
	rc := filepath.Join(home, "npmrc")
	os.WriteFile(rc, []byte("registry="+b.url+"/npm/\nfund=false\naudit=false\nupdate-notifier=false\n"+
		strings.TrimPrefix(b.url, "http:")+"/npm/:_auth="+base64.StdEncoding.EncodeToString([]byte(mgUser+":"+mgPass))+"\n"), 0o600)
	dir := npmtest.WritePackage(t, "@box/real", "1.2.3", nil, "module.exports = 1;\n")
	if out, err := npmtest.NPM(t, dir, home, "publish", "--userconfig", rc, "--cache", filepath.Join(home, "cache")); err != nil {
		t.Fatalf("npm publish: %v\n%s", err, out)
	}
	whl, sdist := pypitest.Build(t, t.TempDir(), pypitest.Project{Name: "Box_Tool", Version: "0.4.0"})
	cmd := exec.Command(pypitest.Python, "-m", "twine", "upload", "--repository-url", b.url+"/simple/",
		"--non-interactive", "--disable-progress-bar", whl, sdist)
	cmd.Dir = home
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + home, "TMPDIR=" + home, "LANG=C.UTF-8",
		"PYTHON_KEYRING_BACKEND=keyring.backends.null.Keyring", "TWINE_USERNAME=" + mgUser, "TWINE_PASSWORD=" + mgPass}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("twine upload: %v\n%s", err, out)
	}
	for _, tc := range []struct{ format, name, listed, version string }{
		{"npm", "@box/real", "@box/real", "1.2.3"}, {"pypi", "Box_Tool", "box-tool", "0.4.0"},
	} {
		var ans struct{ Packages []inventory.Package }
		out := b.must("packages", "ls", tc.format, tc.name, "--json")
		if err := json.Unmarshal([]byte(out), &ans); err != nil || len(ans.Packages) != 1 {
			t.Fatalf("packages ls %s %s: %v\n%s", tc.format, tc.name, err, out)
		}
		p := ans.Packages[0]
		if p.Name != tc.listed || !p.Hosted || len(p.Versions) != 1 || p.Versions[0].Version != tc.version ||
			p.Versions[0].Size == 0 || p.Versions[0].Published.IsZero() {
			t.Errorf("packages ls %s %s: %+v", tc.format, tc.name, p)
		}
		if tc.format == "pypi" && p.Versions[0].Files != 2 {
			t.Errorf("the wheel and the sdist are %d files", p.Versions[0].Files)
		}
		if table := b.must("packages", "ls", tc.format); !strings.Contains(table, tc.listed) || !strings.Contains(table, tc.version) {
			t.Errorf("packages ls %s:\n%s", tc.format, table)
		}
	}
}
