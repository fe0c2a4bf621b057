package replicate_test

import (
	"context"
	"net/http"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"nora/proxy"
	"nora/proxy/docker"
	"nora/proxy/proxytest"
	"nora/proxy/replicate"
)

// ociPair is an edge nora and a hub nora, each with docker hosting and
// API tokens, as a replication between two sites sees them.
type ociPair struct {
	edge, hub         *proxytest.Nora
	edgeTok, hubTok   string
	hubReader         string // a hub token without push
	edgeSent, hubSent atomic.Int64
}

func startOCIPair(t testing.TB) *ociPair {
	t.Helper()
	p := &ociPair{}
	var edgeTk, hubTk *proxytest.Tokens
	p.edge, edgeTk = proxytest.StartTokens(t, proxy.AppConfig{Docker: docker.DefaultConfig()})
	p.hub, hubTk = proxytest.StartTokens(t, proxy.AppConfig{Docker: docker.DefaultConfig()})
	p.edgeTok = edgeTk.Create(t, "replicator", "push:**")
	p.hubTok = hubTk.Create(t, "replicator", "push:**")
	p.hubReader = hubTk.Create(t, "reader", "pull:**")
	return p
}

// endpoints are the edge as source and the hub as target (with token),
// the hub's request bodies counted on the wire.
func (p *ociPair) endpoints(hubToken string) (replicate.Endpoint, replicate.Endpoint) {
	src := replicate.Endpoint{Name: "edge", URL: p.edge.URL, Token: p.edgeTok}
	dst := replicate.Endpoint{Name: "hub", URL: p.hub.URL, Token: hubToken,
		Client: &http.Client{Transport: bodyCounter{http.DefaultTransport, &p.hubSent, nil}}}
	return src, dst
}

// bodyCounter counts the request body bytes it sends: the test's own
// measure of what reached the target, apart from the engine's.
type bodyCounter struct {
	base http.RoundTripper
	n    *atomic.Int64
	// committed, if not nil, hears of each blob the target commits.
	committed func()
}

func (b bodyCounter) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.ContentLength > 0 {
		b.n.Add(req.ContentLength)
	} else if req.Body != nil && req.Body != http.NoBody {
		b.n.Add(1) // a chunked body: something was sent
	}
	resp, err := b.base.RoundTrip(req)
	if err == nil && b.committed != nil && req.Method == http.MethodPut &&
		strings.Contains(req.URL.Path, "/blobs/uploads/") && resp.StatusCode == http.StatusCreated {
		b.committed()
	}
	return resp, err
}

// pushMultiArch pushes to the edge an index of two random platforms
// tagged ref's tag, and a cosign-style signature tag of it; it returns
// the index's digest.
func (p *ociPair) pushMultiArch(t *testing.T, repo, tag string, layerSize int64) v1.Hash {
	t.Helper()
	var adds []mutate.IndexAddendum
	for _, arch := range []string{"amd64", "arm64"} {
		img, err := random.Image(layerSize, 2)
		if err != nil {
			t.Fatal(err)
		}
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		cf.OS, cf.Architecture = "linux", arch
		if img, err = mutate.ConfigFile(img, cf); err != nil {
			t.Fatal(err)
		}
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}}})
	}
	idx := mutate.AppendManifests(empty.Index, adds...)
	r, err := name.NewRepository(p.edge.Addr+"/"+repo, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	auth := remote.WithAuth(&authn.Basic{Username: "ci", Password: p.edgeTok})
	if err := remote.WriteIndex(r.Tag(tag), idx, auth); err != nil {
		t.Fatalf("push %s:%s: %v", repo, tag, err)
	}
	d, err := idx.Digest()
	if err != nil {
		t.Fatal(err)
	}
	sig, err := random.Image(512, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r.Tag("sha256-"+d.Hex+".sig"), sig, auth); err != nil {
		t.Fatalf("push the signature: %v", err)
	}
	// An SBOM-like artifact naming the index as its subject, by digest:
	// only the referrers API finds it.
	sbom, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := partial.Descriptor(idx)
	if err != nil {
		t.Fatal(err)
	}
	sbom = mutate.Subject(sbom, *sub).(v1.Image)
	sd, err := sbom.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r.Digest(sd.String()), sbom, auth); err != nil {
		t.Fatalf("push the referrer: %v", err)
	}
	return d
}

// hubReferrers are the digests the hub's referrers API lists for d in repo.
func (p *ociPair) hubReferrers(t *testing.T, repo string, d v1.Hash) []string {
	t.Helper()
	r, _ := name.NewRepository(p.hub.Addr+"/"+repo, name.Insecure)
	idx, err := remote.Referrers(r.Digest(d.String()), remote.WithAuth(&authn.Basic{Username: "ci", Password: p.hubTok}))
	if err != nil {
		t.Fatalf("referrers of %s: %v", d, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var ds []string
	for _, m := range im.Manifests {
		ds = append(ds, m.Digest.String())
	}
	return ds
}

// craneDigest is the digest crane reads for ref on the hub.
func (p *ociPair) craneDigest(t *testing.T, ref string) string {
	t.Helper()
	out, err := exec.Command("crane", "digest", "--insecure", p.hub.Addr+"/"+ref).CombinedOutput()
	if err != nil {
		t.Fatalf("crane digest %s: %v\n%s", ref, err, out)
	}
	return strings.TrimSpace(string(out))
}

func run(t *testing.T, o replicate.Options) replicate.Report {
	t.Helper()
	o.Movers = []replicate.Mover{replicate.OCI{}}
	rp, err := replicate.Run(context.Background(), o)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	return rp
}

// TestOCIReplicate: a multi-arch image with its signature tag goes from
// edge to hub, where crane reads the same digests; a second run sends
// nothing on the wire; a dry run sends nothing; a token without push
// fails each item with its name and reason.
func TestOCIReplicate(t *testing.T) {
	p := startOCIPair(t)
	d := p.pushMultiArch(t, "prod/app", "v1", 64<<10)
	p.pushMultiArch(t, "dev/tool", "v1", 1<<10) // not matched

	src, dst := p.endpoints(p.hubTok)
	dry := run(t, replicate.Options{Source: src, Target: dst, Match: []string{"prod/*"}, DryRun: true})
	if len(dry.Items) != 1 || dry.Items[0].Status != replicate.StatusDry || dry.Items[0].Bytes < 4*64<<10 {
		t.Fatalf("dry run: %+v, want prod/app:v1 would copy its 4 layers", dry)
	}
	if p.hubSent.Load() != 0 {
		t.Fatalf("a dry run sent %d bytes", p.hubSent.Load())
	}

	rp := run(t, replicate.Options{Source: src, Target: dst, Match: []string{"prod/*"}})
	if rp.Failed != 0 || rp.Copied != 1 || rp.Items[0].Name != "prod/app" || rp.Items[0].Version != "v1" {
		t.Fatalf("first run: %+v", rp)
	}
	if rp.Bytes < 4*64<<10 || p.hubSent.Load() < 4*64<<10 {
		t.Fatalf("first run sent %d (wire %d), want at least the layers", rp.Bytes, p.hubSent.Load())
	}
	if got := p.craneDigest(t, "prod/app:v1"); got != d.String() {
		t.Fatalf("hub has %s, want %s", got, d)
	}
	p.craneDigest(t, "prod/app:sha256-"+d.Hex+".sig")
	if refs := p.hubReferrers(t, "prod/app", d); len(refs) != 1 {
		t.Fatalf("the hub's referrers of %s: %v, want the SBOM", d, refs)
	}
	for _, arch := range []string{"amd64", "arm64"} {
		out, err := exec.Command("crane", "digest", "--insecure", "--platform", "linux/"+arch, p.hub.Addr+"/prod/app:v1").CombinedOutput()
		if err != nil {
			t.Fatalf("crane digest %s: %v\n%s", arch, err, out)
		}
	}
	if out, err := exec.Command("crane", "digest", "--insecure", p.hub.Addr+"/dev/tool:v1").CombinedOutput(); err == nil {
		t.Fatalf("dev/tool was copied: %s", out)
	}

	before := p.hubSent.Load()
	again := run(t, replicate.Options{Source: src, Target: dst, Match: []string{"prod/app:v*"}})
	if again.Skipped != 1 || again.Bytes != 0 || p.hubSent.Load() != before {
		t.Fatalf("second run: %+v, wire %d bytes, want skipped and nothing sent", again, p.hubSent.Load()-before)
	}

	// Into another repository of the hub: its blobs are there already,
	// only the manifests travel.
	moved := run(t, replicate.Options{Source: src, Target: dst, Match: []string{"prod/app"}, TargetPrefix: "copy/"})
	if moved.Copied != 1 || moved.Bytes >= 64<<10 {
		t.Fatalf("into copy/: %+v, want copied with the manifests only", moved)
	}
	if got := p.craneDigest(t, "copy/prod/app:v1"); got != d.String() {
		t.Fatalf("copy/prod/app:v1 is %s, want %s", got, d)
	}

	_, ro := p.endpoints(p.hubReader)
	bad := run(t, replicate.Options{Source: src, Target: ro, Match: []string{"dev/tool"}})
	if bad.Failed != 1 || bad.Items[0].Name != "dev/tool" || !strings.Contains(bad.Items[0].Reason, "may not push dev/tool") {
		t.Fatalf("run with a pull-only token: %+v, want dev/tool failed as denied", bad)
	}
}

// TestOCIReplicateResumes: a run cancelled midway leaves
// the hub without the tag; the next run completes it, sending less than
// the whole image (the blobs that arrived are not sent again).
func TestOCIReplicateResumes(t *testing.T) {
	p := startOCIPair(t)
	d := p.pushMultiArch(t, "prod/big", "v1", 256<<10)
	src, dst := p.endpoints(p.hubTok)
	full := run(t, replicate.Options{Source: src, Target: dst, Match: []string{"prod/big"}, DryRun: true}).Bytes

	ctx, cancel := context.WithCancel(context.Background())
	cut := dst
	cut.Client = &http.Client{Transport: bodyCounter{http.DefaultTransport, &p.hubSent, cancel}}
	o := replicate.Options{Source: src, Target: cut, Match: []string{"prod/big"}, Movers: []replicate.Mover{replicate.OCI{}}}
	if rp, err := replicate.Run(ctx, o); err == nil || rp.Failed != 1 {
		t.Fatalf("cancelled run: %+v, %v; want the item failed and the run cancelled", rp, err)
	}
	if out, err := exec.Command("crane", "digest", "--insecure", p.hub.Addr+"/prod/big:v1").CombinedOutput(); err == nil {
		t.Fatalf("the tag is on the hub after a cancelled run: %s", out)
	}
	rest := run(t, replicate.Options{Source: src, Target: dst, Match: []string{"prod/big"}})
	if rest.Copied != 1 || rest.Bytes >= full {
		t.Fatalf("rerun: %+v, want copied sending less than the %d bytes of the whole", rest, full)
	}
	if got := p.craneDigest(t, "prod/big:v1"); got != d.String() {
		t.Fatalf("hub has %s, want %s", got, d)
	}
	if out, err := exec.Command("crane", "validate", "--insecure", "--remote", p.hub.Addr+"/prod/big:v1").CombinedOutput(); err != nil {
		t.Fatalf("crane validate: %v\n%s", err, out)
	}
}
