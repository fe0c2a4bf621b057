package docker_test

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"nora/internal/units"
	"nora/proxy"
	"nora/proxy/docker"
	"nora/proxy/proxytest"
	"nora/upstream/upstreamtest"
)

// The small-request speed comparison (issue 18): warm manifest GETs by
// digest and by a fresh tag over 16 keep-alive connections, through nora
// with its access log on (JSON lines to a file, as `nora serve` writes
// them to stdout) and through nginx's proxy_cache with its access log on,
// in front of the same upstream, in alternating turns of one run. The
// load generator runs in a process of its own (this test binary again,
// see TestMain): in nora's process it would share nora's GOMAXPROCS, and
// on a busy machine the kernel gives a process a share per thread, which
// nginx's workers and a separate generator have twice of.

const (
	speedConns = 16
	speedTurn  = 20_000 // GETs per turn: a busy machine slows both alike
	speedPaced = 10_000 // GETs per second of the paced run
	ociAccept  = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, " +
		"application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json"
)

// accessLogger is the logger `nora serve` builds (cmd/nora newLogger),
// writing to a file in dir instead of stdout.
func accessLogger(b testing.TB, dir string) *slog.Logger {
	f, err := os.Create(filepath.Join(dir, "nora.log"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { f.Close() })
	durationString := func(_ []string, a slog.Attr) slog.Attr {
		if a.Value.Kind() == slog.KindDuration {
			a.Value = slog.StringValue(a.Value.Duration().String())
		}
		return a
	}
	return slog.New(proxy.NewLogHandler(f, &slog.HandlerOptions{Level: slog.LevelInfo, ReplaceAttr: durationString}))
}

// upstreamToken asks the fixture's token server for a pull token of repo,
// which nginx passes on to fill its cache (nora fetches its own).
func upstreamToken(b testing.TB, up *upstreamtest.Registry, repo string) string {
	resp, err := http.Get(up.Realm + "?service=" + upstreamtest.Service + "&scope=" + url.QueryEscape("repository:"+repo+":pull"))
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct{ Token string }
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || tok.Token == "" {
		b.Fatalf("token: %v", err)
	}
	return tok.Token
}

// speedTarget is one proxy under load: the URLs of the digest and the tag.
type speedTarget struct {
	name        string
	digest, tag string
}

// BenchmarkSpeedWarmManifest reports, for GETs by digest and by tag,
// nora's and nginx's requests per second, nora/nginx, and each one's
// p50 and p99 in µs. The load generator is fasthttp's client, one
// connection per worker: net/http's client reached half the rate on this
// 2-core box (and slowed both proxies alike), so it measured itself.
//
// A third server, the floor, is fasthttp (nora's HTTP server) in nora's
// process answering the same bytes from memory with no log: what this box
// and the server library give before nora does anything. nora/floor and
// the floor's p99 tell nora's own cost from the box's (flat out, the
// generator and the server take turns on the 2 cores, and every one of
// them stalls for the kernel's slices).
//
// The pinned run gives the generator a core of its own, as clients on
// other machines would have: the servers run on the other core (nora and
// the floor with GOMAXPROCS 1, an nginx of one worker), flat out.
func BenchmarkSpeedWarmManifest(b *testing.B) {
	up := upstreamtest.New(b, upstreamtest.Options{})
	img := up.PushRandomImage(b, "library/bench", "1", 1, 1024)
	d, _ := img.Digest()
	logDir := b.TempDir()
	n := startNora(b, options{upstreams: []docker.UpstreamConfig{{Name: "docker.io", URL: up.URL, Realm: up.Realm,
		TTL: units.Duration(time.Hour)}}, log: accessLogger(b, logDir)})
	ng := proxytest.StartNginx(b, up.URL, proxytest.NginxOptions{AccessLog: true, Valid: time.Hour})
	ngOne := proxytest.StartNginx(b, up.URL, proxytest.NginxOptions{AccessLog: true, Valid: time.Hour, Workers: 1})
	manifest, err := img.RawManifest()
	if err != nil {
		b.Fatal(err)
	}
	floor := startFloor(b, manifest, d.String())
	nginxTarget := func(ng *proxytest.Nginx) speedTarget {
		return speedTarget{"nginx", ng.URL + "/v2/library/bench/manifests/" + d.String(), ng.URL + "/v2/library/bench/manifests/1"}
	}
	targets := []speedTarget{
		{"nora", n.URL + "/v2/bench/manifests/" + d.String(), n.URL + "/v2/bench/manifests/1"},
		nginxTarget(ng),
		{"floor", floor + "/v2/bench/manifests/" + d.String(), floor + "/v2/bench/manifests/1"},
	}
	token := upstreamToken(b, up, "library/bench")
	for i, t := range append(targets, nginxTarget(ngOne)) {
		hdr := []string{"Accept", ociAccept}
		if t.name == "nginx" {
			hdr = append(hdr, "Authorization", "Bearer "+token) // nora would take it for its own
		}
		for _, u := range []string{t.digest, t.tag} {
			if _, err := proxytest.Get(http.DefaultClient, u, hdr...); err != nil {
				log, _ := os.ReadFile(filepath.Join(logDir, "nora.log"))
				b.Fatal(i, err, string(log))
			}
		}
	}
	// The paced run asks for a third of what either serves flat out on
	// this box: latency with CPU to spare, not the queue of a saturated
	// one (flat out, each p99 is a scheduler slice of the other process).
	runs := []struct {
		by     string
		rate   int
		pinned bool
	}{{"digest", 0, false}, {"tag", 0, false}, {"digest", speedPaced, false}, {"digest", 0, true}}
	for _, run := range runs {
		by, name := run.by, "by="+run.by
		if run.rate > 0 {
			name += fmt.Sprintf(",rate=%d", run.rate)
		}
		ngRun, genCPUs := ng, ""
		if run.pinned {
			name += ",pinned"
			ngRun, genCPUs = ngOne, "1"
		}
		b.Run(name, func(b *testing.B) {
			if run.pinned {
				pinServers(b, ngRun)
			}
			targets := append(targets[:1:1], nginxTarget(ngRun), targets[2])
			lat := make([][]time.Duration, len(targets))
			spent, cpu, gen := make([]time.Duration, len(targets)), make([]time.Duration, len(targets)), make([]time.Duration, len(targets))
			gets := 0
			for gets < b.N {
				for i, t := range targets {
					u := t.digest
					if by == "tag" {
						u = t.tag
					}
					// nora and the floor are this process.
					serverCPU := func() time.Duration { return selfCPU(b) }
					if i == 1 {
						serverCPU = func() time.Duration { return nginxCPU(b, ngRun) }
					}
					before := serverCPU()
					turn, took, genCPU := generate(b, u, speedConns, speedTurn, run.rate, genCPUs)
					lat[i] = append(lat[i], turn...)
					spent[i] += took
					gen[i] += genCPU
					cpu[i] += serverCPU() - before
				}
				gets += speedTurn
			}
			b.StopTimer()
			for i, t := range targets {
				b.ReportMetric(float64(gets)/spent[i].Seconds(), t.name+"-req/s")
				reportPercentiles(b, t.name, lat[i])
				b.ReportMetric(float64(cpu[i].Microseconds())/float64(gets), t.name+"-cpu-µs/req")
				b.ReportMetric(float64(gen[i].Microseconds())/float64(gets), t.name+"-gen-cpu-µs/req")
			}
			b.ReportMetric(spent[1].Seconds()/spent[0].Seconds(), "nora/nginx")
			b.ReportMetric(spent[2].Seconds()/spent[0].Seconds(), "nora/floor")
			b.ReportMetric(cpu[1].Seconds()/cpu[0].Seconds(), "cpu-nginx/nora")
		})
	}
}

// startFloor serves body as the manifest digest at every path, with
// fasthttp in this process and no log, and returns its URL.
func startFloor(b testing.TB, body []byte, digest string) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	s := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		ctx.Response.Header.Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
		ctx.Response.Header.Set("Docker-Content-Digest", digest)
		ctx.SetBody(body)
	}}
	go s.Serve(ln)
	b.Cleanup(func() { s.Shutdown() })
	return "http://" + ln.Addr().String()
}

// TestMain makes the test binary the load generator when NORATEST_SPEED_GEN
// is set: "url conns total file rate [cpu]"; it writes to file the time the
// GETs took, then each one's latency (little-endian nanoseconds). Given a
// cpu, it runs on that one alone.
func TestMain(m *testing.M) {
	if spec := os.Getenv("NORATEST_SPEED_GEN"); spec != "" {
		if err := runGenerator(strings.Fields(spec)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func runGenerator(spec []string) error {
	conns, _ := strconv.Atoi(spec[1])
	total, _ := strconv.Atoi(spec[2])
	rate, _ := strconv.Atoi(spec[4])
	if len(spec) > 5 {
		cpu, _ := strconv.Atoi(spec[5])
		runtime.GOMAXPROCS(1)
		if err := pinTasks(os.Getpid(), cpu); err != nil {
			return err
		}
	}
	start := time.Now()
	lat, err := loadTurn(spec[0], conns, total, rate)
	if err != nil {
		return err
	}
	out := binary.LittleEndian.AppendUint64(make([]byte, 0, 8*(len(lat)+1)), uint64(time.Since(start)))
	for _, l := range lat {
		out = binary.LittleEndian.AppendUint64(out, uint64(l))
	}
	return os.WriteFile(spec[3], out, 0o600)
}

// generate runs the load generator for total GETs of u over conns
// connections, as fast as they go (rate 0) or rate per second in all, on
// the CPU cpu names (empty: any), and returns their latencies, the time
// they took and the generator's CPU time.
func generate(b testing.TB, u string, conns, total, rate int, cpu string) ([]time.Duration, time.Duration, time.Duration) {
	file := filepath.Join(b.TempDir(), "latencies")
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), fmt.Sprintf("NORATEST_SPEED_GEN=%s %d %d %s %d %s", u, conns, total, file, rate, cpu))
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("load generator: %v\n%s", err, out)
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	raw, err := os.ReadFile(file)
	if err != nil || len(raw) < 8 {
		b.Fatalf("load generator wrote %d bytes: %v", len(raw), err)
	}
	took := time.Duration(binary.LittleEndian.Uint64(raw))
	lat := make([]time.Duration, 0, len(raw)/8-1)
	for i := 8; i+8 <= len(raw); i += 8 {
		lat = append(lat, time.Duration(binary.LittleEndian.Uint64(raw[i:])))
	}
	return lat, took, time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// selfCPU is the CPU time this process (nora) used.
func selfCPU(b testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// nginxCPU is the CPU time nginx's master and workers used (in clock
// ticks of 10 ms: turns last seconds).
func nginxCPU(b testing.TB, ng *proxytest.Nginx) time.Duration {
	var ticks int64
	for _, p := range nginxPids(b, ng) {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p))
		if err != nil {
			continue
		}
		// After the command in parentheses: utime and stime are fields
		// 14 and 15 of the line, 12 and 13 of what follows ") ".
		f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
		for _, v := range f[11:13] {
			n, _ := strconv.ParseInt(v, 10, 64)
			ticks += n
		}
	}
	return time.Duration(ticks) * 10 * time.Millisecond
}

// nginxPids are the process IDs of nginx's master and workers.
func nginxPids(b testing.TB, ng *proxytest.Nginx) []int {
	pid, err := os.ReadFile(filepath.Join(ng.Dir, "nginx.pid"))
	if err != nil {
		b.Fatal(err)
	}
	master := strings.TrimSpace(string(pid))
	children, _ := os.ReadFile("/proc/" + master + "/task/" + master + "/children")
	var pids []int
	for _, p := range append(strings.Fields(string(children)), master) {
		n, _ := strconv.Atoi(p)
		pids = append(pids, n)
	}
	return pids
}

func reportPercentiles(b *testing.B, name string, lat []time.Duration) {
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), name+"-p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), name+"-p99-µs")
}

// loadTurn GETs u total times over conns connections and returns every
// GET's latency. rate > 0 paces them: each connection sends on a
// schedule of rate/conns per second, and a GET's latency counts from its
// slot, so a GET held up by the one before it counts the wait too.
func loadTurn(u string, conns, total, rate int) ([]time.Duration, error) {
	var next atomic.Int64
	lats := make([][]time.Duration, conns)
	errs := make([]error, conns)
	var wg sync.WaitGroup
	var every time.Duration
	if rate > 0 {
		every = time.Duration(conns) * time.Second / time.Duration(rate)
	}
	begin := time.Now()
	for w := range conns {
		get := fastGetter(u)
		lats[w] = make([]time.Duration, 0, total/conns+1)
		wg.Go(func() {
			slot := begin.Add(every * time.Duration(w) / time.Duration(conns))
			for next.Add(1) <= int64(total) {
				start := time.Now()
				if every > 0 {
					time.Sleep(time.Until(slot))
					start, slot = slot, slot.Add(every)
				}
				if errs[w] = get(); errs[w] != nil {
					return
				}
				lats[w] = append(lats[w], time.Since(start))
			}
		})
	}
	wg.Wait()
	return slices.Concat(lats...), errors.Join(errs...)
}

// fastGetter is one fasthttp connection GETting u, without allocating.
func fastGetter(u string) func() error {
	host := strings.TrimPrefix(u, "http://")
	host = host[:strings.IndexByte(host, '/')]
	c := &fasthttp.HostClient{Addr: host, MaxConns: 1}
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	req.SetRequestURI(u)
	req.Header.Set("Accept", ociAccept)
	return func() error {
		if err := c.Do(req, resp); err != nil {
			return err
		}
		if resp.StatusCode() != fasthttp.StatusOK || len(resp.Body()) == 0 {
			return fmt.Errorf("GET %s: %d", u, resp.StatusCode())
		}
		return nil
	}
}
