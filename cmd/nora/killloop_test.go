package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/opencontainers/go-digest"

	"nora/cache"
	"nora/proxy/npm/npmtest"
	"nora/proxy/proxytest"
	"nora/upstream/upstreamtest"
)

const (
	killRounds    = 12
	killUser      = "ci"
	killPass      = "s3cret-kill"
	killAccept    = "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json"
	killLayerSize = 32 << 10
)

// TestKillLoop kills nora with SIGKILL at a random moment, again and
// again, while clients push images to hosted names and pull images nora
// fills from an upstream, restarting it on the same data directory as
// systemd would. After each restart: everything acknowledged before the
// kill (a blob upload's 201, a manifest PUT's 201, a fill committed) is
// still served, from the cache; every manifest served is complete (all
// its blobs served); every object served and every object file on disk
// matches its digest; no temp file survives. NORATEST_KILLLOOP_SEED replays
// a run; NORATEST_KILLLOOP_BIN runs another nora binary.
func TestKillLoop(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("NORATEST_KILLLOOP_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("seed %d (NORATEST_KILLLOOP_SEED replays it)", seed)
	rng := rand.New(rand.NewPCG(seed, 0))

	up := upstreamtest.New(t, upstreamtest.Options{})
	var images []upImage
	for i := range 32 {
		repo := fmt.Sprintf("up/img%d", i)
		images = append(images, upImageOf(t, repo, up.PushRandomImage(t, repo, "v1", 2, killLayerSize)))
	}
	// A narrow link keeps fills in flight when the kill comes.
	fp := upstreamtest.NewFaultProxy(t, up.URL)
	fp.SetBandwidth(1 << 20)
	fp.SetLatency(5 * time.Millisecond)

	k := &killLoop{t: t, data: t.TempDir(), fp: fp, ledger: newLedger()}
	switch {
	case os.Getenv("NORATEST_KILLLOOP_BIN") != "":
		k.bin = os.Getenv("NORATEST_KILLLOOP_BIN") // another build, e.g. one broken on purpose
	case raceEnabled:
		k.bin = buildNora(t)
	}
	htpasswd := proxytest.Htpasswd(t, killUser, killPass)
	k.config = func(addr string) string {
		return fmt.Sprintf("[server]\nlisten = %q\n[storage]\npath = %q\n[auth]\nhtpasswd = %q\n"+
			"[npm]\nhosted_names = [\"@site/*\"]\n[docker]\nhosted_names = [\"site/**\"]\n[[docker.upstreams]]\nname = \"docker.io\"\nurl = %q\nrealm = %q\n",
			addr, k.data, htpasswd, fp.URL, up.Realm)
	}
	for round := range killRounds {
		p := k.start()
		k.verify(round, p.addr)
		_, mans0, _, _ := k.ledger.counts()
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for w := range 2 {
			wg.Go(func() { k.push(ctx, p.addr, fmt.Sprintf("site/r%d-w%d", round, w)) })
			wg.Go(func() { k.fill(ctx, p.addr, images, rand.New(rand.NewPCG(seed, uint64(round*2+w+1)))) })
			wg.Go(func() { k.publish(ctx, p.addr, fmt.Sprintf("@site/r%d-w%d", round, w)) })
		}
		// Kill at a random moment once this round has a manifest
		// acknowledged, so every round has something to lose.
		k.ledger.waitManifests(mans0+1, 10*time.Second)
		time.Sleep(time.Duration(rng.Int64N(int64(400 * time.Millisecond))))
		p.kill()
		cancel()
		wg.Wait()
	}
	k.verify(killRounds, k.start().addr)
	blobs, mans, fills, tried := k.ledger.counts()
	pkgs, pkgsTried := k.ledger.pkgCounts()
	t.Logf("%d restarts: acknowledged %d blob uploads, %d manifests (of %d tried), %d fills, %d npm publishes (of %d tried)",
		killRounds, blobs, mans, tried, fills, pkgs, pkgsTried)
	if mans == 0 || fills == 0 || pkgs == 0 {
		t.Fatalf("nothing was acknowledged: the loop tested nothing (%d manifests, %d fills, %d publishes)", mans, fills, pkgs)
	}
}

type killLoop struct {
	t      *testing.T
	data   string
	bin    string // nora built without -race; "" runs this test binary
	fp     *upstreamtest.FaultProxy
	config func(addr string) string
	ledger *ledger
}

// upImage is an image of the upstream: its repository and the digests of
// its manifest and blobs.
type upImage struct {
	repo     string
	manifest digest.Digest
	blobs    []digest.Digest
}

func upImageOf(t *testing.T, repo string, img v1.Image) upImage {
	d, _ := img.Digest()
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	u := upImage{repo: repo, manifest: digest.Digest(d.String()), blobs: []digest.Digest{digest.Digest(m.Config.Digest.String())}}
	for _, l := range m.Layers {
		u.blobs = append(u.blobs, digest.Digest(l.Digest.String()))
	}
	return u
}

func (k *killLoop) start() *noraProcess {
	if k.bin == "" {
		return startProcess(k.t, k.config(freeAddr(k.t)))
	}
	return runProcess(k.t, k.bin, nil, k.config(freeAddr(k.t)))
}

// push pushes images of three layers to repo until ctx ends: each layer
// on its own (its 201 acknowledged), then the manifest.
func (k *killLoop) push(ctx context.Context, addr, repo string) {
	// No retries: a push that met the kill ends, it does not wait out
	// ggcr's backoff.
	opts := []remote.Option{remote.WithContext(ctx), remote.WithAuth(&authn.Basic{Username: killUser, Password: killPass}),
		remote.WithRetryBackoff(remote.Backoff{Steps: 1})}
	for n := 0; ctx.Err() == nil; n++ {
		img, err := random.Image(killLayerSize, 3)
		if err != nil {
			k.t.Error(err)
			return
		}
		ref, err := name.NewTag(fmt.Sprintf("%s/%s:v%d", addr, repo, n), name.Insecure)
		if err != nil {
			k.t.Error(err)
			return
		}
		tag := repo + ":" + ref.TagStr()
		k.ledger.tried(tag)
		layers, _ := img.Layers()
		for _, l := range layers {
			if remote.WriteLayer(ref.Context(), l, opts...) != nil {
				return
			}
			d, _ := l.Digest()
			k.ledger.blob(repo, digest.Digest(d.String()))
		}
		if remote.Write(ref, img, opts...) != nil {
			return
		}
		d, _ := img.Digest()
		k.ledger.manifest(tag, digest.Digest(d.String()))
	}
}

// fill pulls upstream images through nora until ctx ends; an object is
// acknowledged once it read whole and verified and nora committed it.
func (k *killLoop) fill(ctx context.Context, addr string, images []upImage, rng *rand.Rand) {
	for ctx.Err() == nil {
		img := images[rng.IntN(len(images))]
		for try := 0; try < 8 && k.ledger.filled(img); try++ {
			img = images[rng.IntN(len(images))] // prefer a cold one
		}
		objs := append([]digest.Digest{img.manifest}, img.blobs...)
		for i, d := range objs {
			kind := "blobs"
			if i == 0 {
				kind = "manifests"
			}
			status, _, err := fetchVerified(ctx, "http://"+addr+"/v2/"+img.repo+"/"+kind+"/"+d.String(), d)
			if err != nil || status != 200 {
				if err != nil && ctx.Err() == nil && !isKilled(err) {
					k.t.Errorf("fill of %s@%s: %v", img.repo, d, err)
				}
				break
			}
			if _, err := os.Stat(filepath.Join(k.data, "objects", filepath.FromSlash(cache.BlobKey(d)))); err == nil {
				k.ledger.fill(img.repo+"/"+kind, d)
			}
		}
	}
}

// isKilled: the error a client sees when nora dies under it.
func isKilled(err error) bool { return err != nil && err != errDigest }

var errDigest = fmt.Errorf("served bytes do not match the digest")

// fetchVerified GETs url; a 200's body must hash to want. It returns the
// status, the body (manifests) and an error for a failed read or a wrong
// body (errDigest).
func fetchVerified(ctx context.Context, url string, want digest.Digest) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Accept", killAccept)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return resp.StatusCode, nil, nil
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return 0, nil, err
	}
	if digest.FromBytes(b) != want && want != "" {
		return 200, b, errDigest
	}
	return 200, b, nil
}

// ledger is what nora acknowledged, and the tags pushes were tried for.
type ledger struct {
	mu        sync.Mutex
	blobs     map[string]digest.Digest // "repo@digest" of acknowledged uploads
	manifests map[string]digest.Digest // "repo:tag" of acknowledged PUTs
	tags      map[string]bool          // "repo:tag" tried
	fills     map[string]digest.Digest // "repo/kind@digest" committed by a fill
	pkgs      map[string]string        // npm name -> tarball integrity, publish tried
	published map[string]bool          // npm names whose publish was acknowledged
	fresh     map[string]bool          // keys of the above added since the last verify
}

func newLedger() *ledger {
	return &ledger{blobs: map[string]digest.Digest{}, manifests: map[string]digest.Digest{},
		tags: map[string]bool{}, fills: map[string]digest.Digest{}, pkgs: map[string]string{}, published: map[string]bool{},
		fresh: map[string]bool{}}
}

func (l *ledger) blob(repo string, d digest.Digest)    { l.put(l.blobs, repo+"@"+d.String(), d) }
func (l *ledger) fill(path string, d digest.Digest)    { l.put(l.fills, path+"@"+d.String(), d) }
func (l *ledger) manifest(tag string, d digest.Digest) { l.put(l.manifests, tag, d) }
func (l *ledger) tried(tag string) {
	l.mu.Lock()
	l.tags[tag], l.fresh[tag] = true, true
	l.mu.Unlock()
}

func (l *ledger) put(m map[string]digest.Digest, k string, d digest.Digest) {
	l.mu.Lock()
	m[k], l.fresh[k] = d, true
	l.mu.Unlock()
}

func (l *ledger) pkgTried(name, integrity string) {
	l.mu.Lock()
	l.pkgs[name], l.fresh[name] = integrity, true
	l.mu.Unlock()
}

func (l *ledger) pkgPublished(name string) {
	l.mu.Lock()
	l.published[name], l.fresh[name] = true, true
	l.mu.Unlock()
}

func (l *ledger) pkgCounts() (published, tried int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.published), len(l.pkgs)
}

func (l *ledger) counts() (blobs, manifests, fills, tried int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.blobs), len(l.manifests), len(l.fills), len(l.tags)
}

// filled reports whether all of img's objects are committed fills.
func (l *ledger) filled(img upImage) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, ok := l.fills[img.repo+"/manifests@"+img.manifest.String()]
	for _, d := range img.blobs {
		_, b := l.fills[img.repo+"/blobs@"+d.String()]
		ok = ok && b
	}
	return ok
}

// waitManifests waits until n manifests are acknowledged, at most d.
func (l *ledger) waitManifests(n int, d time.Duration) {
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if _, m, _, _ := l.counts(); m >= n {
			return
		}
	}
}

// snapshot copies the maps, so verify reads them without the lock.
func (l *ledger) snapshot() (blobs, manifests, fills map[string]digest.Digest, tags map[string]bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	cp := func(m map[string]digest.Digest) map[string]digest.Digest {
		c := make(map[string]digest.Digest, len(m))
		for k, v := range m {
			c[k] = v
		}
		return c
	}
	tags = make(map[string]bool, len(l.tags))
	for k := range l.tags {
		tags[k] = true
	}
	return cp(l.blobs), cp(l.manifests), cp(l.fills), tags
}

// verify checks a freshly restarted nora (at addr) against the ledger,
// before new work starts: what the last round added, and every fourth
// round and at the end all of it (older objects must stay, too).
func (k *killLoop) verify(round int, addr string) {
	t := k.t
	t.Helper()
	k.ledger.mu.Lock()
	fresh := k.ledger.fresh
	k.ledger.fresh = map[string]bool{}
	k.ledger.mu.Unlock()
	full := round%4 == 0 || round == killRounds
	want := func(key string) bool { return full || fresh[key] }
	if entries, _ := os.ReadDir(filepath.Join(k.data, "tmp")); len(entries) != 0 {
		t.Fatalf("round %d: %d temp files survived the restart", round, len(entries))
	}
	k.verifyDisk(round)
	blobs, manifests, fills, tags := k.ledger.snapshot()
	ctx := context.Background()
	base := "http://" + addr + "/v2/"
	asked := k.fp.Stats().Forwarded
	for key, d := range fills {
		if !want(key) {
			continue
		}
		path := key[:len(key)-len(d.String())-1]
		if status, _, err := fetchVerified(ctx, base+path+"/"+d.String(), d); status != 200 || err != nil {
			t.Fatalf("round %d: committed fill %s lost: %d %v", round, key, status, err)
		}
	}
	if got := k.fp.Stats().Forwarded; got != asked {
		t.Fatalf("round %d: committed fills were fetched again (%d upstream requests)", round, got-asked)
	}
	for key, d := range blobs {
		if !want(key) {
			continue
		}
		repo := key[:len(key)-len(d.String())-1]
		if status, _, err := fetchVerified(ctx, base+repo+"/blobs/"+d.String(), d); status != 200 || err != nil {
			t.Fatalf("round %d: acknowledged upload %s lost: %d %v", round, key, status, err)
		}
	}
	for tag := range tags {
		if !want(tag) {
			continue
		}
		k.verifyTag(round, base, tag, manifests[tag])
	}
	k.ledger.mu.Lock()
	pkgs, published := maps.Clone(k.ledger.pkgs), maps.Clone(k.ledger.published)
	k.ledger.mu.Unlock()
	for name, integrity := range pkgs {
		if !want(name) {
			continue
		}
		k.verifyPackage(round, addr, name, integrity, published[name])
	}
}

// verifyTag: a tag's manifest is absent (unless acknowledged) or whole.
func (k *killLoop) verifyTag(round int, base, tag string, acked digest.Digest) {
	t := k.t
	t.Helper()
	repo, ref, _ := cutLast(tag, ":")
	status, body, err := fetchVerified(context.Background(), base+repo+"/manifests/"+ref, "")
	switch {
	case err != nil:
		t.Fatalf("round %d: GET %s: %v", round, tag, err)
	case status == 404 && acked == "":
		return // never acknowledged: absent is right
	case status != 200:
		t.Fatalf("round %d: acknowledged manifest %s: %d", round, tag, status)
	case acked != "" && digest.FromBytes(body) != acked:
		t.Fatalf("round %d: %s serves %s, acknowledged %s", round, tag, digest.FromBytes(body), acked)
	}
	var m struct {
		Config struct{ Digest digest.Digest }
		Layers []struct{ Digest digest.Digest }
	}
	if err := json.Unmarshal(body, &m); err != nil || m.Config.Digest == "" {
		t.Fatalf("round %d: %s serves a manifest that does not parse: %v\n%s", round, tag, err, body)
	}
	for _, d := range append([]digest.Digest{m.Config.Digest}, layerDigests(m.Layers)...) {
		if status, _, err := fetchVerified(context.Background(), base+repo+"/blobs/"+d.String(), d); status != 200 || err != nil {
			t.Fatalf("round %d: %s is visible but its blob %s is not whole: %d %v", round, tag, d, status, err)
		}
	}
}

func layerDigests(ls []struct{ Digest digest.Digest }) []digest.Digest {
	var ds []digest.Digest
	for _, l := range ls {
		ds = append(ds, l.Digest)
	}
	return ds
}

func cutLast(s, sep string) (before, after string, ok bool) {
	if i := strings.LastIndex(s, sep); i >= 0 {
		return s[:i], s[i+len(sep):], true
	}
	return s, "", false
}

// verifyDisk: every content-addressed object file holds what its name says.
func (k *killLoop) verifyDisk(round int) {
	root := filepath.Join(k.data, "objects", "blobs", "sha256")
	filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			k.t.Fatalf("round %d: %v", round, err)
		}
		defer f.Close()
		h := sha256.New()
		io.Copy(h, f)
		if got := hex.EncodeToString(h.Sum(nil)); got != e.Name() {
			k.t.Fatalf("round %d: object file %s holds sha256:%s", round, p, got)
		}
		return nil
	})
}

// publish publishes npm packages named prefix-N until ctx ends, each
// acknowledged by its 2xx.
func (k *killLoop) publish(ctx context.Context, addr, prefix string) {
	for n := 0; ctx.Err() == nil; n++ {
		name := fmt.Sprintf("%s-%d", prefix, n)
		tgz := npmtest.Tarball(k.t, name, "1.0.0", 4<<10)
		sum := sha512.Sum512(tgz)
		integrity := "sha512-" + base64.StdEncoding.EncodeToString(sum[:])
		doc, _ := json.Marshal(map[string]any{
			"_id": name, "name": name, "dist-tags": map[string]string{"latest": "1.0.0"},
			"versions": map[string]any{"1.0.0": map[string]any{"name": name, "version": "1.0.0",
				"dist": map[string]string{"integrity": integrity}}},
			"_attachments": map[string]any{name + "-1.0.0.tgz": map[string]any{
				"content_type": "application/octet-stream", "data": base64.StdEncoding.EncodeToString(tgz), "length": len(tgz)}},
		})
		k.ledger.pkgTried(name, integrity)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPut, "http://"+addr+"/npm/"+npmPath(name), bytes.NewReader(doc))
		req.SetBasicAuth(killUser, killPass)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			if ctx.Err() == nil {
				k.t.Errorf("publish %s: %d", name, resp.StatusCode)
			}
			return
		}
		k.ledger.pkgPublished(name)
	}
}

// npmPath is a name as npm puts it in a URL: the scope's slash encoded.
func npmPath(name string) string { return strings.Replace(name, "/", "%2f", 1) }

// verifyPackage: a package is absent (unless its publish was acknowledged)
// or whole: its packument lists 1.0.0 and the tarball it links verifies.
func (k *killLoop) verifyPackage(round int, addr, name, integrity string, acked bool) {
	t := k.t
	t.Helper()
	status, body, err := fetchVerified(context.Background(), "http://"+addr+"/npm/"+npmPath(name), "")
	switch {
	case err != nil:
		t.Fatalf("round %d: GET %s: %v", round, name, err)
	case status == 404 && !acked:
		return
	case status != 200:
		t.Fatalf("round %d: published package %s: %d", round, name, status)
	}
	var doc struct {
		Versions map[string]struct {
			Dist struct{ Tarball, Integrity string }
		}
	}
	json.Unmarshal(body, &doc)
	v, ok := doc.Versions["1.0.0"]
	if !ok || v.Dist.Integrity != integrity {
		t.Fatalf("round %d: %s is visible without its version (or another one):\n%s", round, name, body)
	}
	status, tgz, err := fetchVerified(context.Background(), v.Dist.Tarball, "")
	sum := sha512.Sum512(tgz)
	if status != 200 || err != nil || "sha512-"+base64.StdEncoding.EncodeToString(sum[:]) != integrity {
		t.Fatalf("round %d: %s is visible but its tarball is not whole: %d %v", round, name, status, err)
	}
}
