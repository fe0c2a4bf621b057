package main

import (
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"nora/cache"
	"nora/cache/cachetest"
	"nora/proxy/npm/npmtest"
	"nora/proxy/proxytest"
	"nora/upstream/upstreamtest"
)

// The speed comparisons run nora as a child process built without the race
// detector, so the CPU the server spends can be told apart from the
// client's, and put nginx's proxy_cache in front of the same fixture in the
// same run. Figures are reported as ratios of nginx's.

// startBenchNora runs bin with config and GOMAXPROCS=procs (0: the
// default).
func startBenchNora(b *testing.B, bin, config string, procs int) *noraProcess {
	env := os.Environ()
	if procs > 0 {
		env = append(env, "GOMAXPROCS="+strconv.Itoa(procs))
	}
	return runProcess(b, bin, env, config)
}

// cpuTicks is the user plus system CPU of pid so far, in clock ticks.
func cpuTicks(pid int) (int64, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name, which is in parentheses: state is
	// field 3, utime 14 and stime 15.
	rest := string(raw[strings.LastIndexByte(string(raw), ')')+2:])
	f := strings.Fields(rest)
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return ut + st, nil
}

// clockTick is USER_HZ, 100 on every Linux this runs on.
const clockTick = 100

// nginxPids are nginx's master and its children (the workers and the
// cache manager).
func nginxPids(b *testing.B, n *proxytest.Nginx) []int {
	raw, err := os.ReadFile(filepath.Join(n.Dir, "nginx.pid"))
	if err != nil {
		b.Fatal(err)
	}
	master, _ := strconv.Atoi(strings.TrimSpace(string(raw)))
	pids := []int{master}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
		if ppid, _ := strconv.Atoi(f[1]); ppid == master {
			pids = append(pids, pid)
		}
	}
	return pids
}

// cpuOf sums the CPU ticks of pids.
func cpuOf(b *testing.B, pids []int) int64 {
	var sum int64
	for _, pid := range pids {
		t, err := cpuTicks(pid)
		if err != nil {
			b.Fatal(err)
		}
		sum += t
	}
	return sum
}

// idleCPU waits until pids use no more CPU over 100 ms (at most 10 s)
// and returns the CPU ticks they used until then.
func idleCPU(b *testing.B, pids []int) int64 {
	last := cpuOf(b, pids)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		now := cpuOf(b, pids)
		if now == last {
			break
		}
		last = now
	}
	return last
}

// BenchmarkSpeedBlobWarm: one client GETs a cached 256 MiB layer again
// and again from nora and from nginx's proxy_cache, alternately; MB/s and
// server CPU seconds per GB of each, and nora's ratios of nginx's. procs is
// nora's GOMAXPROCS and nginx's worker_processes.
//
//	go test ./cmd/nora -run '^$' -bench SpeedBlobWarm -benchtime 20x
func BenchmarkSpeedBlobWarm(b *testing.B) {
	const size = 256 << 20
	up := upstreamtest.New(b, upstreamtest.Options{})
	d, _ := up.PushBlobOfSize(b, "library/big", size)
	bin := buildNora(b)
	for _, procs := range []int{1, 2} {
		b.Run(fmt.Sprintf("procs=%d", procs), func(b *testing.B) {
			data := b.TempDir()
			config := fmt.Sprintf("[server]\nlisten = %q\n[storage]\npath = %q\n[[docker.upstreams]]\nname = \"docker.io\"\nurl = %q\n",
				freeAddr(b), data, up.URL)
			p := startBenchNora(b, bin, config, procs)
			nora := &blobTarget{url: "http://" + p.addr + "/v2/big/blobs/" + d.String(), pids: []int{p.cmd.Process.Pid}}
			nora.c = proxytest.BenchClient(1)
			nora.get(b, size) // the fill
			// nginx cannot take part in the registry's token dance: its
			// upstream is a plain file server of the same bytes. Only warm
			// GETs are timed, which never reach an upstream.
			stored := filepath.Join(data, "objects", filepath.FromSlash(cache.BlobKey(d)))
			settled(b, "the filled blob", fileStored(stored))
			ng := proxytest.StartNginx(b, proxytest.SendfileBaseline(b, stored), proxytest.NginxOptions{Workers: procs, AccessLog: true})
			nginx := &blobTarget{url: ng.URL + "/v2/library/big/blobs/" + d.String(), pids: nginxPids(b, ng), c: proxytest.BenchClient(1)}
			targets := []*blobTarget{nora, nginx}
			for _, t := range targets {
				t.get(b, size) // nginx's fill; one warm GET each, untimed
				t.get(b, size)
				t.took, t.cpu = 0, 0
			}
			b.ResetTimer()
			for range b.N {
				for _, t := range targets {
					t.get(b, size)
				}
			}
			b.StopTimer()
			gb := float64(b.N) * size / 1e9
			b.ReportMetric(gb*1e3/nora.took.Seconds(), "nora-MB/s")
			b.ReportMetric(gb*1e3/nginx.took.Seconds(), "nginx-MB/s")
			b.ReportMetric(nginx.took.Seconds()/nora.took.Seconds(), "speed-ratio")
			b.ReportMetric(float64(nora.cpu)/clockTick/gb, "nora-cpu-s/GB")
			b.ReportMetric(float64(nginx.cpu)/clockTick/gb, "nginx-cpu-s/GB")
			b.ReportMetric(float64(nora.cpu)/float64(max(nginx.cpu, 1)), "cpu-ratio")
		})
	}
}

type blobTarget struct {
	url  string
	pids []int
	c    *http.Client
	took time.Duration
	cpu  int64
}

// get GETs the blob once, adding its time and the server's CPU.
func (t *blobTarget) get(b *testing.B, size int64) {
	cpu0, start := cpuOf(b, t.pids), time.Now()
	body, err := getBody(t.c, t.url, "")
	n := int64(len(body))
	if err != nil || n != size {
		b.Fatalf("GET %s: %d bytes, %v %.300s", t.url, n, err, body)
	}
	t.took += time.Since(start)
	t.cpu += cpuOf(b, t.pids) - cpu0
}

// BenchmarkSpeedNpmCold: 16 clients install 1,000 small packages as npm
// does (abbreviated packument, then the tarball, checked against its
// integrity) through a fresh nora and a fresh nginx each op: everything
// is cold. Both store on a fresh ext4 filesystem with a journal, as an
// edge box's disk is: on this machine's own disk (ext4 without a journal)
// every file created right after the previous op's cleanup scans the
// thousands of inodes that cleanup freed, which would measure the machine.
// Reports the seconds per 1,000 packages of each and the ratio.
//
//	go test ./cmd/nora -run '^$' -bench SpeedNpmCold -benchtime 3x
func BenchmarkSpeedNpmCold(b *testing.B) {
	const pkgs, clients = 1000, 16
	up := npmtest.NewRegistry(b)
	names := make([]string, pkgs)
	for i := range names {
		names[i] = fmt.Sprintf("pkg-%04d", i)
		up.Publish(b, names[i], "1.0.0", 2048)
	}
	bin := buildNora(b)
	var noraTook, nginxTook time.Duration
	var noraCPU, nginxCPU int64
	for range b.N {
		b.StopTimer()
		// Both store on one fresh ext4 filesystem (see cachetest.LoopExt4).
		fs := cachetest.LoopExt4(b, "4G")
		config := fmt.Sprintf("[server]\nlisten = %q\n[storage]\npath = %q\n[npm]\nupstream = %q\n",
			freeAddr(b), filepath.Join(fs, "nora"), up.URL)
		p := startBenchNora(b, bin, config, 0)
		ng := proxytest.StartNginx(b, up.URL, proxytest.NginxOptions{AccessLog: true, Dir: filepath.Join(fs, "nginx")})
		noraPids, nginxPids := []int{p.cmd.Process.Pid}, nginxPids(b, ng)
		b.StartTimer()
		cpu := cpuOf(b, noraPids)
		noraTook += npmInstall(b, "http://"+p.addr+"/npm", names, clients)
		// nora commits behind its replies: its CPU counts until it is
		// idle, and nginx starts on a quiet disk.
		noraCPU += idleCPU(b, noraPids) - cpu
		cpu = cpuOf(b, nginxPids)
		nginxTook += npmInstall(b, ng.URL, names, clients)
		nginxCPU += idleCPU(b, nginxPids) - cpu
		b.StopTimer()
		p.kill()
	}
	n := float64(b.N)
	b.ReportMetric(noraTook.Seconds()/n, "nora-s/1000pkgs")
	b.ReportMetric(nginxTook.Seconds()/n, "nginx-s/1000pkgs")
	b.ReportMetric(noraTook.Seconds()/nginxTook.Seconds(), "time-ratio")
	b.ReportMetric(float64(noraCPU)/clockTick/n, "nora-cpu-s/1000pkgs")
	b.ReportMetric(float64(nginxCPU)/clockTick/n, "nginx-cpu-s/1000pkgs")
}

// npmInstall fetches every package's packument and tarball from base over
// clients connections and returns how long it took.
func npmInstall(b *testing.B, base string, names []string, clients int) time.Duration {
	c := proxytest.BenchClient(clients)
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range clients {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(len(names)); i = next.Add(1) - 1 {
				if err := npmFetch(c, base, names[i]); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	return time.Since(start)
}

// npmFetch is what npm install does for one package: the abbreviated
// packument, then the latest tarball, whose sha512 must match.
func npmFetch(c *http.Client, base, name string) error {
	doc, err := getBody(c, base+"/"+name, "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*")
	if err != nil {
		return err
	}
	var p struct {
		DistTags map[string]string `json:"dist-tags"`
		Versions map[string]struct {
			Dist struct{ Tarball, Integrity string }
		}
	}
	if err := json.Unmarshal(doc, &p); err != nil {
		return fmt.Errorf("packument of %s: %w", name, err)
	}
	dist := p.Versions[p.DistTags["latest"]].Dist
	u, err := url.Parse(dist.Tarball)
	if err != nil {
		return err
	}
	// Whoever rewrote the tarball URL (or not, as nginx does), it is
	// fetched through the proxy under test.
	path := u.Path
	if strings.HasSuffix(base, "/npm") {
		path = strings.TrimPrefix(path, "/npm")
	}
	tgz, err := getBody(c, base+path, "")
	if err != nil {
		return err
	}
	sum := sha512.Sum512(tgz)
	if got := "sha512-" + base64.StdEncoding.EncodeToString(sum[:]); got != dist.Integrity {
		return fmt.Errorf("%s: integrity %s, want %s", name, got, dist.Integrity)
	}
	return nil
}

func getBody(c *http.Client, url, accept string) ([]byte, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return body, err
}
