package main

import (
	"context"
	"fmt"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"nora/proxy/cargo/cargotest"
	"nora/proxy/maven/maventest"
	"nora/proxy/npm/npmtest"
	"nora/proxy/pypi/pypitest"
	"nora/upstream/upstreamtest"
)

// upstreams are the five fixtures, each behind fault proxies, with warm
// content made up front and cold content made on demand (Cold).
type upstreams struct {
	t         testing.TB
	docker    *upstreamtest.Registry
	npm       *npmtest.Registry
	pypi      *pypitest.Server
	maven     *maventest.Repo
	mavenRoot string
	cargo     *cargotest.Registry
	content   Content
	seq       atomic.Int64

	proxies []*upstreamtest.FaultProxy
	// What nora is configured with: the proxies.
	dockerURL, npmURL, pypiURL, mavenURL, cargoURL string
}

func startUpstreams(t *testing.T) *upstreams {
	u := &upstreams{t: t, docker: upstreamtest.New(t, upstreamtest.Options{}), npm: npmtest.NewRegistry(t),
		pypi: pypitest.New(t, pypitest.Options{RelativeLinks: true}), mavenRoot: t.TempDir(),
		cargo: cargotest.New(t, cargotest.Options{})}
	u.maven = maventest.New(t, u.mavenRoot)
	for i := range 6 {
		img := u.docker.PushRandomImage(t, fmt.Sprintf("library/warm%d", i), "v1", 2, 16<<10)
		d, _ := img.Digest()
		u.content.Images = append(u.content.Images, Image{Ref: fmt.Sprintf("warm%d:v1", i), Digest: d.String()})
		u.npm.Publish(t, fmt.Sprintf("warm-%d", i), "1.0.0", 4096)
		u.npm.Publish(t, fmt.Sprintf("warm-%d", i), "1.1.0", 4096)
		u.content.Npm = append(u.content.Npm, fmt.Sprintf("warm-%d", i))
		u.addWheel(fmt.Sprintf("warm-py-%d", i))
		u.content.PyPI = append(u.content.PyPI, fmt.Sprintf("warm-py-%d", i))
		u.content.Maven = append(u.content.Maven, u.addMaven(fmt.Sprintf("org.warm:lib%d:1.0", i)))
		name := fmt.Sprintf("warm-crate-%d", i)
		u.cargo.Publish(name, "0.1.0", tgz(name+"-0.1.0/src/lib.rs", noise(4096)))
		u.content.Crates = append(u.content.Crates, name)
	}
	u.npm.Publish(t, "@acme/util", "0.1.0", 4096)
	u.content.Npm = append(u.content.Npm, "@acme/util")
	u.docker.PushIndex(t, "library/multi", "v1")
	u.content.Indexes = []string{"multi:v1"}
	u.fronts(t)
	return u
}

// fronts puts a fault proxy before every listener nora reaches. The npm
// packuments and cargo's config.json name their hosts from fields,
// pointed at the proxies; PyPI links are relative.
func (u *upstreams) fronts(t *testing.T) {
	front := func(target string) *upstreamtest.FaultProxy {
		p := upstreamtest.NewFaultProxy(t, target)
		u.proxies = append(u.proxies, p)
		return p
	}
	hostOf := func(s string) string { v, _ := url.Parse(s); return "http://" + v.Host }
	u.dockerURL = front(u.docker.URL).URL
	u.npmURL = front(u.npm.URL).URL
	u.npm.URL = u.npmURL
	u.pypiURL = front(hostOf(u.pypi.IndexURL)).URL + "/simple/"
	u.mavenURL = front(hostOf(u.maven.URL)).URL + "/maven2"
	u.cargoURL = front(hostOf(u.cargo.IndexURL)).URL + "/"
	u.cargo.StaticURL = front(u.cargo.StaticURL).URL
}

// bytes is what the proxies sent nora: the upstream bytes.
func (u *upstreams) bytes() int64 {
	var n int64
	for _, p := range u.proxies {
		n += p.Stats().BodyBytes
	}
	return n
}

// injected sums what the proxies did to nora's requests.
func (u *upstreams) injected() string {
	var s upstreamtest.FaultStats
	for _, p := range u.proxies {
		st := p.Stats()
		s.Forwarded += st.Forwarded
		s.Stormed += st.Stormed
		s.Cut += st.Cut
	}
	return fmt.Sprintf("%d upstream requests forwarded, %d answered by a status storm (429 or 502), %d responses cut mid-body",
		s.Forwarded, s.Stormed, s.Cut)
}

func (u *upstreams) addWheel(project string) string {
	file, data := wheel(project, "1.0")
	u.pypi.Add(project, pypitest.File{Name: file, Data: data})
	return file
}

// addMaven writes gav's pom and jar; the repository makes the checksums.
func (u *upstreams) addMaven(gav string) string {
	base, err := mavenBase(gav)
	if err != nil {
		u.t.Fatal(err)
	}
	rel := base[len("/maven2/"):]
	maventest.WriteFile(u.t, u.mavenRoot, rel+".pom", []byte("<project><modelVersion>4.0.0</modelVersion></project>"))
	maventest.WriteFile(u.t, u.mavenRoot, rel+".jar", tgz("data.txt", noise(4096)))
	return gav
}

// The Cold methods add a new item upstream, straight to the fixture, and
// name it.

func (u *upstreams) Image(ctx context.Context) (Image, error) {
	n := u.seq.Add(1)
	img := u.docker.PushRandomImage(u.t, fmt.Sprintf("library/cold%d", n), "v1", 1, 4<<10)
	d, err := img.Digest()
	return Image{Ref: fmt.Sprintf("cold%d:v1", n), Digest: d.String()}, err
}

func (u *upstreams) Npm(ctx context.Context) (string, error) {
	name := fmt.Sprintf("cold-%d", u.seq.Add(1))
	u.npm.Publish(u.t, name, "1.0.0", 2048)
	return name, nil
}

func (u *upstreams) PyPI(ctx context.Context) (string, error) {
	name := fmt.Sprintf("cold-py-%d", u.seq.Add(1))
	u.addWheel(name)
	return name, nil
}

func (u *upstreams) Maven(ctx context.Context) (string, error) {
	return u.addMaven(fmt.Sprintf("org.cold:lib%d:1.0", u.seq.Add(1))), nil
}

func (u *upstreams) Crate(ctx context.Context) (string, error) {
	name := fmt.Sprintf("cold-crate-%d", u.seq.Add(1))
	u.cargo.Publish(name, "0.1.0", tgz(name+"-0.1.0/src/lib.rs", noise(2048)))
	return name, nil
}

// proxyFaults switches the faults on every proxy at once and remembers
// when the upstreams were last in trouble.
type proxyFaults struct {
	u       *upstreams
	mu      sync.Mutex
	on      int
	lastOff time.Time
}

// troubleAfter is how long after a fault nora may still refuse a fill:
// its breaker's cooldown (30 s) and a client's retries.
const troubleAfter = 40 * time.Second

func (f *proxyFaults) set(on bool, apply func(p *upstreamtest.FaultProxy)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if on {
		f.on++
	} else {
		f.on--
		f.lastOff = time.Now()
	}
	for _, p := range f.u.proxies {
		apply(p)
	}
}

func (f *proxyFaults) trouble() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.on > 0 || (!f.lastOff.IsZero() && time.Since(f.lastOff) < troubleAfter)
}

func (f *proxyFaults) Slow(on bool) {
	f.set(on, func(p *upstreamtest.FaultProxy) {
		p.SetLatency(pick(on, 50*time.Millisecond, 0))
		p.SetBandwidth(pick(on, int64(256<<10), 0))
	})
}

func (f *proxyFaults) Lossy(on bool) {
	f.set(on, func(p *upstreamtest.FaultProxy) { p.SetLoss(pick(on, 0.1, 0)) })
}

func (f *proxyFaults) RateLimited(on bool) {
	f.set(on, func(p *upstreamtest.FaultProxy) {
		p.SetStatusStorm(pick(on, 429, 0), pick(on, 0.5, 0), pick(on, time.Second, 0))
	})
}

// Failing answers 9 in 10 upstream requests with 502: enough failed
// attempts in a row to open nora's breakers.
func (f *proxyFaults) Failing(on bool) {
	f.set(on, func(p *upstreamtest.FaultProxy) { p.SetStatusStorm(pick(on, 502, 0), pick(on, 0.9, 0), 0) })
}

func (f *proxyFaults) clear() {
	for _, p := range f.u.proxies {
		p.Clear()
	}
}

func pick[T any](on bool, a, b T) T {
	if on {
		return a
	}
	return b
}
