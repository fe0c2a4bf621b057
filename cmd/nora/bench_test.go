package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"nora/upstream/upstreamtest"
)

// procStatusKB reads a "VmRSS"/"VmHWM" line of /proc/<pid>/status in KiB.
func procStatusKB(b *testing.B, pid int, field string) float64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			return n
		}
	}
	b.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// BenchmarkStartToFirst200 measures process start to the first 200 on /v2/.
func BenchmarkStartToFirst200(b *testing.B) {
	data := b.TempDir()
	cfgPath := filepath.Join(b.TempDir(), "nora.toml")
	var total time.Duration
	for i := 0; i < b.N; i++ {
		addr := freeAddr(b)
		os.WriteFile(cfgPath, []byte(fmt.Sprintf("[server]\nlisten = %q\n[storage]\npath = %q\n", addr, data)), 0o600)
		cmd := exec.Command(os.Args[0], "serve", "--config", cfgPath)
		cmd.Env = append(os.Environ(), "NORATEST_MAIN=1")
		start := time.Now()
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		for {
			resp, err := http.Get("http://" + addr + "/v2/")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					break
				}
			}
			if time.Since(start) > 20*time.Second {
				b.Fatal("nora did not answer /v2/")
			}
			time.Sleep(time.Millisecond)
		}
		total += time.Since(start)
		cmd.Process.Kill()
		cmd.Wait()
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/start")
}

// BenchmarkRSS reports nora's idle RSS and its peak during 16 concurrent
// cold GETs of one 256 MB blob.
func BenchmarkRSS(b *testing.B) {
	const size = 256 << 20
	up := upstreamtest.New(b, upstreamtest.Options{})
	for i := 0; i < b.N; i++ {
		d, _ := up.PushBlobOfSize(b, fmt.Sprintf("library/rss%d", i), size)
		config := fmt.Sprintf("[server]\nlisten = %q\n[storage]\npath = %q\n[[docker.upstreams]]\nname = \"docker.io\"\nurl = %q\n",
			freeAddr(b), b.TempDir(), up.URL)
		p := startProcess(b, config)
		time.Sleep(time.Second)
		idle := procStatusKB(b, p.cmd.Process.Pid, "VmRSS")
		var wg sync.WaitGroup
		for range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				resp, err := http.Get(fmt.Sprintf("http://%s/v2/rss%d/blobs/%s", p.addr, i, d))
				if err != nil {
					b.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}()
		}
		wg.Wait()
		peak := procStatusKB(b, p.cmd.Process.Pid, "VmHWM")
		p.kill()
		b.ReportMetric(idle/1024, "idle-RSS-MB")
		b.ReportMetric(peak/1024, "peak-RSS-MB")
	}
}
