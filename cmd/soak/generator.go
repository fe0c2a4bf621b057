package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Target is the nora under load and what its clients may ask it for.
type Target struct {
	Base           string // http://host:port
	User, Password string // a login that may push and publish; "": no writes
	Content        Content
	// Cold hands out content not cached yet; nil leaves the cold kinds out.
	Cold Cold
	// UpstreamTrouble reports whether an upstream fault is on or was on
	// within nora's breaker cooldown: a cold request that still gets a
	// 502/503/504 then is counted as unavailable, not as an error (nora
	// cannot serve what it never had while its upstream is down). nil:
	// never.
	UpstreamTrouble func() bool
}

// Content names what is there to pull. Images and indexes are
// "repo:tag", Maven coordinates "group:artifact:version" (a pom and a
// jar), crates and packages by name (the latest version is installed).
type Content struct {
	Images  []Image
	Indexes []string
	Npm     []string
	PyPI    []string
	Maven   []string
	Crates  []string
}

// Image is a pullable tag; Digest, when known, is checked.
type Image struct {
	Ref    string // repo:tag
	Digest string
}

// Cold makes content that nora has not cached yet, upstream, and names
// it as Content does.
type Cold interface {
	Image(ctx context.Context) (Image, error)
	Npm(ctx context.Context) (string, error)
	PyPI(ctx context.Context) (string, error)
	Maven(ctx context.Context) (string, error)
	Crate(ctx context.Context) (string, error)
}

// Kind is one kind of client operation with its share of the mix.
type Kind struct {
	Name   string
	Weight int
	Cold   bool // needs the upstream
	Run    func(ctx context.Context, c *client) error
}

// Generator drives clients against a Target.
type Generator struct {
	target  Target
	clients int
	kinds   []Kind
	total   int
	http    *http.Client
	wire    counters
	stats   *stats
	ledger  *ledger
	seq     atomic.Int64 // unique names of pushes and publishes
	reauths atomic.Int64 // operations rerun for a token a restart voided
	images  []Image      // Content.Images with digests resolved
}

// opRuns bounds the reruns of one operation.
const opRuns = 3

// opTimeout bounds one operation with all its retries.
const opTimeout = 2 * time.Minute

// New makes a generator of clients concurrent clients.
func New(t Target, clients int) *Generator {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost = clients*2, clients*2
	tr.IdleConnTimeout = 30 * time.Second
	g := &Generator{target: t, clients: clients, stats: newStats(), ledger: newLedger()}
	g.http = &http.Client{Transport: &retrier{next: tr, n: &g.wire}, Timeout: opTimeout}
	g.kinds = g.mix()
	for _, k := range g.kinds {
		g.total += k.Weight
	}
	return g
}

// Reset forgets the operations and wire counts so far (a warm-up's); the
// ledger of acknowledged writes stays.
func (g *Generator) Reset() {
	g.stats = newStats()
	g.wire.requests.Store(0)
	g.wire.retries.Store(0)
	g.wire.mu.Lock()
	g.wire.why = nil
	g.wire.mu.Unlock()
	g.wire.bytes.Store(0)
	g.reauths.Store(0)
}

// port is the target's TCP port.
func (g *Generator) port() int {
	u, err := url.Parse(g.target.Base)
	if err != nil {
		return 0
	}
	p, _ := strconv.Atoi(u.Port())
	if p == 0 && u.Scheme == "https" {
		return 443
	} else if p == 0 {
		return 80
	}
	return p
}

// CloseIdle drops the clients' idle connections, so that nora's
// descriptors settle.
func (g *Generator) CloseIdle() { g.http.CloseIdleConnections() }

// Kinds names the operations in the mix.
func (g *Generator) Kinds() []string {
	var n []string
	for _, k := range g.kinds {
		n = append(n, k.Name)
	}
	return n
}

// WarmUp fetches every item of the warm content (every platform of the
// indexes), so that it is cached and the digests are known before the
// measured run, then runs every kind once.
func (g *Generator) WarmUp(ctx context.Context) error {
	c := g.newClient(-1)
	for i, im := range g.target.Content.Images {
		d, err := c.resolve(ctx, im.Ref)
		if err != nil {
			return fmt.Errorf("warm-up: %s: %w", im.Ref, err)
		}
		if im.Digest != "" && im.Digest != d {
			return fmt.Errorf("warm-up: %s is %s, want %s: %w", im.Ref, d, im.Digest, errWrongBytes)
		}
		g.target.Content.Images[i].Digest = d
	}
	g.images = g.target.Content.Images
	ct := g.target.Content
	var fetches []func() error
	each := func(names []string, fetch func(string) error) {
		for _, n := range names {
			fetches = append(fetches, func() error { return fetch(n) })
		}
	}
	each(ct.Indexes, func(s string) error { return c.pullPlatforms(ctx, s) })
	each(ct.Npm, func(n string) error { return c.npmInstall(ctx, n, "", "") })
	each(ct.PyPI, func(n string) error { return c.pipInstall(ctx, n, "", "") })
	each(ct.Maven, func(n string) error { return c.mavenResolve(ctx, n, "") })
	each(ct.Crates, func(n string) error { return c.cargoFetch(ctx, n, "", "") })
	for _, f := range fetches {
		if err := g.retryOp(ctx, func(context.Context) error { return f() }); err != nil {
			return fmt.Errorf("warm-up: %w", err)
		}
	}
	for _, k := range g.kinds {
		if err := g.op(ctx, c, k); err != nil {
			return fmt.Errorf("warm-up %s: %w", k.Name, err)
		}
	}
	return nil
}

// Run runs the clients until stop is closed and every operation begun
// has ended. Operations do not see stop: a client is not cut off.
func (g *Generator) Run(stop <-chan struct{}) {
	var wg sync.WaitGroup
	for i := range g.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := g.newClient(i)
			for {
				select {
				case <-stop:
					return
				default:
				}
				k := g.pick(c.rng)
				ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
				start := time.Now()
				err := g.op(ctx, c, k)
				cancel()
				g.stats.record(k, time.Since(start), err, g.unavailable(k, err))
			}
		}()
	}
	wg.Wait()
}

// op runs k, once more after a transient failure (a connection a killed
// nora broke mid-body, an upload session it forgot, a 503 to a request
// whose body the transport could not replay), as a real client reruns a
// pull, a push or an install.
func (g *Generator) op(ctx context.Context, c *client, k Kind) error {
	return g.retryOp(ctx, func(ctx context.Context) error { return k.Run(ctx, c) })
}

func (g *Generator) retryOp(ctx context.Context, run func(context.Context) error) error {
	var errs []error
	for i := range opRuns {
		err := run(ctx)
		if invalidToken(err) {
			g.reauths.Add(1)
		}
		if err == nil {
			return nil
		}
		errs = append(errs, err)
		if !transient(err) || i == opRuns-1 || sleep(ctx, time.Duration(i+1)*500*time.Millisecond) != nil {
			break
		}
	}
	return runsError(errs)
}

// unavailable reports a failed cold operation that met an upstream in
// trouble: one of its runs got 502, 503 or 504 (nora has nothing cached
// to serve) while UpstreamTrouble says so.
func (g *Generator) unavailable(k Kind, err error) bool {
	if err == nil || !k.Cold || g.target.UpstreamTrouble == nil {
		return false
	}
	for _, e := range runErrors(err) {
		switch status(e) {
		case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			return g.target.UpstreamTrouble()
		}
	}
	return false
}

// runsError is the error of an operation that failed in every run.
type runsError []error

func (e runsError) Error() string {
	if len(e) == 1 {
		return e[0].Error()
	}
	return fmt.Sprintf("%v (earlier runs: %v)", e[len(e)-1], errors.Join(e[:len(e)-1]...))
}

// Unwrap is the last run's error.
func (e runsError) Unwrap() error { return e[len(e)-1] }

func runErrors(err error) []error {
	var re runsError
	if errors.As(err, &re) {
		return re
	}
	return []error{err}
}

func (g *Generator) pick(rng *rand.Rand) Kind {
	n := rng.IntN(g.total)
	for _, k := range g.kinds {
		if n < k.Weight {
			return k
		}
		n -= k.Weight
	}
	return g.kinds[len(g.kinds)-1]
}

// client is one simulated client: its own random stream, the shared
// connection pool.
type client struct {
	g   *Generator
	id  int
	rng *rand.Rand
}

func (g *Generator) newClient(id int) *client {
	return &client{g: g, id: id, rng: rand.New(rand.NewPCG(uint64(id+1), uint64(time.Now().UnixNano())))}
}

// unique is a name part no other push or publish of this run uses.
func (c *client) unique() string { return fmt.Sprintf("c%d-%d", c.id+1, c.g.seq.Add(1)) }

func pickOne[T any](c *client, xs []T) T { return xs[c.rng.IntN(len(xs))] }
