package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/opencontainers/go-digest"
	"golang.org/x/crypto/bcrypt"

	"nora/cache"
	"nora/proxy/admin"
)

// The storage lifecycle end to end: a nora process on a config file, the
// real crane pushing and pulling, and the real nora gc / retention
// commands talking to its admin socket.

const (
	lcUser = "ci"
	lcPass = "lifecycle-pass"
)

type lifecycle struct {
	t      *testing.T
	config string // the config file's path
	doc    string
	data   string // storage path
	home   string // crane's DOCKER_CONFIG, logged in
	p      *noraProcess
}

// startLifecycle writes a config with a hosted login and the given extra
// TOML (sections after [auth]), and starts nora on it.
func startLifecycle(t *testing.T, storage, extra string) *lifecycle {
	t.Helper()
	l := &lifecycle{t: t, data: t.TempDir(), home: t.TempDir()}
	hash, err := bcrypt.GenerateFromPassword([]byte(lcPass), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	htpasswd := filepath.Join(t.TempDir(), "htpasswd")
	os.WriteFile(htpasswd, []byte(lcUser+":"+string(hash)+"\n"), 0o600)
	// A socket path must fit sun_path: a short directory of its own.
	sockDir, err := os.MkdirTemp("", "nora-lc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	addr := freeAddr(t)
	// Hosted only: no docker upstream to ask about the pushed names.
	l.doc = fmt.Sprintf("[server]\nlisten = %q\nadmin_socket = %q\n[storage]\npath = %q\n%s\n[docker]\nupstreams = []\n[auth]\nhtpasswd = %q\n%s\n",
		addr, filepath.Join(sockDir, "admin.sock"), l.data, storage, htpasswd, extra)
	l.config = filepath.Join(t.TempDir(), "nora.toml")
	os.WriteFile(l.config, []byte(l.doc), 0o600)
	cred := base64.StdEncoding.EncodeToString([]byte(lcUser + ":" + lcPass))
	os.WriteFile(filepath.Join(l.home, "config.json"), []byte(`{"auths":{"`+addr+`":{"auth":"`+cred+`"}}}`), 0o600)
	l.p = startProcess(t, l.doc)
	return l
}

func (l *lifecycle) restart() {
	l.p.kill()
	l.p = startProcess(l.t, l.doc)
}

// crane runs the real crane as the logged-in user.
func (l *lifecycle) crane(args ...string) (string, error) {
	path, err := exec.LookPath("crane")
	if err != nil {
		l.t.Fatalf("crane is not installed (.ci/setup-oci.sh installs it): %v", err)
	}
	cmd := exec.Command(path, append([]string{"--insecure"}, args...)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + l.home, "DOCKER_CONFIG=" + l.home, "TMPDIR=" + l.home}
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func (l *lifecycle) mustCrane(args ...string) string {
	l.t.Helper()
	out, err := l.crane(args...)
	if err != nil {
		l.t.Fatalf("crane %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// push pushes a random image of layers layers of size bytes to repo:tag
// and returns it.
func (l *lifecycle) push(ref string, size int64, layers int) v1.Image {
	l.t.Helper()
	img, err := random.Image(size, int64(layers))
	if err != nil {
		l.t.Fatal(err)
	}
	tag, err := name.NewTag("example.invalid/x:y")
	if err != nil {
		l.t.Fatal(err)
	}
	file := filepath.Join(l.t.TempDir(), "img.tar")
	if err := tarball.WriteToFile(file, tag, img); err != nil {
		l.t.Fatal(err)
	}
	l.mustCrane("push", file, l.p.addr+"/"+ref)
	return img
}

// blobsOf lists the digests of img's layers and config.
func blobsOf(t *testing.T, img v1.Image) []digest.Digest {
	t.Helper()
	layers, _ := img.Layers()
	var out []digest.Digest
	for _, layer := range layers {
		d, _ := layer.Digest()
		out = append(out, digest.Digest(d.String()))
	}
	cfg, _ := img.ConfigName()
	return append(out, digest.Digest(cfg.String()))
}

func (l *lifecycle) stored(d digest.Digest) bool {
	_, err := os.Stat(filepath.Join(l.data, "objects", filepath.FromSlash(cache.BlobKey(d))))
	return err == nil
}

// nora runs a nora command (a client of the admin socket) in-process.
func (l *lifecycle) nora(args ...string) (string, error) {
	var out, errOut bytes.Buffer
	if code := run(context.Background(), append(args, "--config", l.config), &out, &errOut, nil); code != 0 {
		return out.String(), fmt.Errorf("nora %s: exit %d: %s", strings.Join(args, " "), code, errOut.String())
	}
	return out.String(), nil
}

// job runs a job command with --json and decodes its final state.
func (l *lifecycle) job(args ...string) (state admin.JobState, removed []cache.GCItem) {
	l.t.Helper()
	out, err := l.nora(append(args, "--json")...)
	if err != nil {
		l.t.Fatal(err)
	}
	var raw struct {
		admin.JobState
		Result struct {
			Removed []cache.GCItem `json:"removed"`
		} `json:"result"`
	}
	if err := json.Unmarshal([]byte(out), &raw); err != nil {
		l.t.Fatalf("nora %s --json: %v\n%s", strings.Join(args, " "), err, out)
	}
	if raw.State != admin.Done {
		l.t.Fatalf("nora %s: state %s: %s", strings.Join(args, " "), raw.State, raw.Error)
	}
	return raw.JobState, raw.Result.Removed
}

func removedKeys(items []cache.GCItem) []string {
	var keys []string
	for _, it := range items {
		keys = append(keys, it.Key)
	}
	slices.Sort(keys)
	return keys
}

func TestGCWhilePushesAndPullsRun(t *testing.T) {
	const grace = 3 * time.Second
	l := startLifecycle(t, "min_free = \"0\"", fmt.Sprintf("[gc]\nschedule = \"\"\ngrace = %q\ndelete_untagged = true\n", grace))
	old := l.push("site/old:1", 64<<10, 2)
	keep := l.push("site/keep:1", 64<<10, 2)
	keepDigest, _ := keep.Digest()
	l.mustCrane("delete", l.p.addr+"/site/old:1")
	time.Sleep(grace + 500*time.Millisecond) // the deleted image's blobs are past the grace

	_, removed := l.job("gc", "--dry-run")
	for _, d := range blobsOf(t, old) {
		if !slices.Contains(removedKeys(removed), cache.BlobKey(d)) {
			t.Errorf("dry run does not list %s of the deleted tag: %v", d, removedKeys(removed))
		}
		if !l.stored(d) {
			t.Fatalf("the dry run deleted %s", d)
		}
	}

	// Pushes and pulls in a loop while GC runs: none may fail.
	var failures atomic.Int32
	var pushed sync.Map // ref -> v1.Image
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			img, _ := random.Image(32<<10, 2)
			ref := fmt.Sprintf("site/loop:%d", i)
			file := filepath.Join(t.TempDir(), "loop.tar")
			tag, _ := name.NewTag("example.invalid/x:y")
			tarball.WriteToFile(file, tag, img)
			if out, err := l.crane("push", file, l.p.addr+"/"+ref); err != nil {
				failures.Add(1)
				t.Errorf("push %s during gc: %v\n%s", ref, err, out)
			}
			pushed.Store(ref, img)
		}
	})
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			out, err := l.crane("pull", l.p.addr+"/site/keep:1", filepath.Join(t.TempDir(), "keep.tar"))
			if err != nil {
				failures.Add(1)
				t.Errorf("pull during gc: %v\n%s", err, out)
			}
		}
	})
	time.Sleep(300 * time.Millisecond)
	_, removed = l.job("gc")
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	if n := failures.Load(); n != 0 {
		t.Fatalf("%d requests failed while gc ran", n)
	}
	for _, d := range blobsOf(t, old) {
		if l.stored(d) {
			t.Errorf("blob %s of the deleted tag survived gc (removed: %v)", d, removedKeys(removed))
		}
	}
	// Every hosted manifest is complete: crane checks each digest.
	check := func(ref string, img v1.Image) {
		for _, d := range blobsOf(t, img) {
			if !l.stored(d) {
				t.Errorf("%s lost blob %s", ref, d)
			}
		}
		l.mustCrane("pull", l.p.addr+"/"+ref, filepath.Join(t.TempDir(), "x.tar"))
	}
	check("site/keep@"+keepDigest.String(), keep)
	n := 0
	pushed.Range(func(k, v any) bool {
		n++
		check(k.(string), v.(v1.Image))
		return true
	})
	if n == 0 {
		t.Fatal("the loop pushed nothing")
	}
}

func TestRetentionByCLI(t *testing.T) {
	l := startLifecycle(t, "min_free = \"0\"", `[gc]
schedule = ""
[[retention]]
match = "site/app/dev-*"
keep_last = 2
[[retention]]
match = "site/app/old-*"
older_than = "1h"
`)
	for _, tag := range []string{"dev-1", "dev-2", "dev-3", "dev-4", "old-1", "release-1"} {
		l.push("site/app:"+tag, 4<<10, 1)
	}
	// A manifest reachable only by digest is never a tag: not counted, not removed.
	untagged := l.push("site/app:tmp", 4<<10, 1)
	untaggedDigest, _ := untagged.Digest()
	l.mustCrane("delete", l.p.addr+"/site/app:tmp")
	tags := func() []string {
		out := strings.Fields(l.mustCrane("ls", l.p.addr+"/site/app"))
		slices.Sort(out)
		return out
	}
	before := tags()

	_, removed := l.job("retention", "--dry-run")
	want := []string{"oci:site/app:dev-1", "oci:site/app:dev-2"}
	if got := removedKeys(removed); !slices.Equal(got, want) {
		t.Fatalf("dry run would remove %v, want %v", got, want)
	}
	if got := tags(); !slices.Equal(got, before) {
		t.Fatalf("the dry run changed the tags: %v, was %v", got, before)
	}
	out, err := l.nora("retention", "--dry-run")
	if err != nil || !strings.Contains(out, "oci:site/app:dev-1") {
		t.Fatalf("plain dry-run output: %v\n%s", err, out)
	}

	_, removed = l.job("retention")
	if got := removedKeys(removed); !slices.Equal(got, want) {
		t.Fatalf("retention removed %v, want %v", got, want)
	}
	if got, want := tags(), []string{"dev-3", "dev-4", "old-1", "release-1"}; !slices.Equal(got, want) {
		t.Fatalf("tags after retention %v, want %v", got, want)
	}
	l.mustCrane("manifest", l.p.addr+"/site/app@"+untaggedDigest.String())
}

func TestKilledDuringSweep(t *testing.T) {
	l := startLifecycle(t, "min_free = \"0\"", "[gc]\nschedule = \"\"\ngrace = \"0s\"\ndelete_untagged = true\n")
	keep := l.push("site/keep:1", 16<<10, 3)
	keepDigest, _ := keep.Digest()
	// Many small blobs that GC will sweep once their tag is gone.
	junk := l.push("site/junk:1", 512, 600)
	l.mustCrane("delete", l.p.addr+"/site/junk:1")

	client := admin.NewClient(admin.SocketPath(socketOf(l.doc), l.data))
	ctx := context.Background()
	if _, err := client.Start(ctx, "gc", false); err != nil {
		t.Fatal(err)
	}
	// Kill as soon as the sweep reports progress, while blobs remain.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(time.Millisecond) {
		st, err := client.Job(ctx, "gc")
		if err == nil && (st.Progress.Done > 0 || st.State != admin.Running) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("gc reported no progress")
		}
	}
	l.restart()
	left := 0
	for _, d := range blobsOf(t, junk) {
		if l.stored(d) {
			left++
		}
	}
	t.Logf("killed with %d of %d unreferenced blobs left", left, len(blobsOf(t, junk)))
	for _, d := range blobsOf(t, keep) {
		if !l.stored(d) {
			t.Fatalf("a referenced blob %s is missing after kill -9 during the sweep", d)
		}
	}
	l.mustCrane("pull", l.p.addr+"/site/keep@"+keepDigest.String(), filepath.Join(t.TempDir(), "k.tar"))
	// A full run afterwards finishes what the killed one began.
	l.job("gc")
	for _, d := range blobsOf(t, junk) {
		if l.stored(d) {
			t.Fatalf("junk blob %s survived a full gc", d)
		}
	}
	l.mustCrane("pull", l.p.addr+"/site/keep:1", filepath.Join(t.TempDir(), "k.tar"))
	// The index agrees with the disk.
	out, err := l.nora("storage", "stats", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var st cache.Stats
	json.Unmarshal([]byte(out), &st)
	var onDisk int64
	filepath.Walk(filepath.Join(l.data, "objects", "blobs"), func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			onDisk += fi.Size()
		}
		return nil
	})
	if st.HostedBytes+st.ProxiedBytes != onDisk {
		t.Fatalf("index says %d hosted + %d proxied bytes, disk holds %d", st.HostedBytes, st.ProxiedBytes, onDisk)
	}
}

// socketOf reads admin_socket back from a config document.
func socketOf(doc string) string {
	for _, line := range strings.Split(doc, "\n") {
		if v, ok := strings.CutPrefix(line, "admin_socket = "); ok {
			return strings.Trim(v, `"`)
		}
	}
	return ""
}

// GC marks from every hosted registry, not only OCI: a deployed Maven
// artifact survives a GC with no grace.
func TestGCKeepsHostedPackages(t *testing.T) {
	l := startLifecycle(t, "min_free = \"0\"", "[gc]\nschedule = \"\"\ngrace = \"0s\"\ndelete_untagged = true\n")
	jar := bytes.Repeat([]byte("hosted jar bytes "), 1000)
	url := "http://" + l.p.addr + "/maven2/com/acme/lib/1.0/lib-1.0.jar"
	req, _ := http.NewRequest(http.MethodPut, url, bytes.NewReader(jar))
	req.SetBasicAuth(lcUser, lcPass)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		t.Fatalf("deploy: %s", resp.Status)
	}
	l.job("gc")
	if !l.stored(digest.FromBytes(jar)) {
		t.Fatal("gc removed a deployed jar")
	}
	resp, err = http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Equal(got, jar) {
		t.Fatalf("GET after gc: %s, %d bytes", resp.Status, len(got))
	}
}
