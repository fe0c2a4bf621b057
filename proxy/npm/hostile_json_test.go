package npm_test

import (
	"bytes"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"nora/proxy/npm"
	"nora/proxy/npm/npmtest"
	"nora/proxy/proxytest"
)

// heapPeak samples the heap in use until stop is called, which returns
// the peak.
func heapPeak() (stop func() uint64) {
	var peak atomic.Uint64
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	return func() uint64 { close(done); <-finished; return peak.Load() }
}

// Packuments an upstream sends that no one should have to hold: a gzip
// bomb (1 MiB on the wire, 1 GiB inflated), one over the cap as it
// is, one nested 100,000 deep. Each is an npm error, nothing is cached
// (the next request asks the upstream again), the heap stays within a
// few times the 64 MiB cap, and a good package is still served.
func TestHostilePackuments(t *testing.T) {
	up := npmtest.NewRegistry(t)
	up.Publish(t, "good", "1.0.0", 512)
	bomb := proxytest.GzipBomb([]byte(`{"name":"bomb","readme":"`), 'a', 1024, []byte(`"}`))
	deep := `{"name":"deep","versions":{},"x":` + strings.Repeat("[", 100_000) + strings.Repeat("]", 100_000) + "}"
	up.SetHook(func(w http.ResponseWriter, r *http.Request) bool {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/bomb":
			w.Header().Set("Content-Encoding", "gzip")
			w.Write(bomb)
		case "/huge":
			io.WriteString(w, `{"name":"huge","readme":"`)
			io.Copy(w, io.LimitReader(filler('a'), 65<<20))
			io.WriteString(w, `"}`)
		case "/deep":
			io.WriteString(w, deep)
		default:
			return false
		}
		return true
	})
	n := startNora(t, npm.Config{Upstream: up.URL})
	for _, name := range []string{"bomb", "huge", "deep"} {
		for try := range 2 {
			runtime.GC()
			var base runtime.MemStats
			runtime.ReadMemStats(&base)
			stop := heapPeak()
			resp, body := get(t, n.URL+"/npm/"+name)
			peak := stop()
			if resp.StatusCode < 400 || !strings.Contains(string(body), `"error"`) {
				t.Fatalf("%s: %d %.200s", name, resp.StatusCode, body)
			}
			if hits := up.Hits("/" + name); hits != try+1 {
				t.Fatalf("%s: request %d made %d upstream requests: a refused document was cached", name, try+1, hits)
			}
			t.Logf("%s: %d %s; heap grew %d MiB", name, resp.StatusCode, bytes.TrimSpace(body), (int64(peak)-int64(base.HeapInuse))>>20)
			// io.ReadAll up to the cap holds its last two buffers at once,
			// the race detector's runtime collects later, and under CI's
			// load the sampled peak holds garbage not yet collected (273
			// MiB seen once): a bound well below the bomb's 1 GiB.
			if grew := int64(peak) - int64(base.HeapInuse); grew > 6*64<<20 {
				t.Fatalf("%s: the heap grew by %d MiB for a packument capped at 64 MiB", name, grew>>20)
			}
		}
	}
	if resp, body := get(t, n.URL+"/npm/good"); resp.StatusCode != 200 {
		t.Fatalf("good package after hostile ones: %d %s", resp.StatusCode, body)
	}
}

// filler reads one byte for ever.
type filler byte

func (f filler) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(f)
	}
	return len(p), nil
}

// A tarball an upstream sends gzip-encoded (a bomb: 256 MiB inflated)
// is taken as the bytes that came, which fail its integrity: the client
// sees no more than those bytes and a broken transfer, nothing is stored,
// no temp file stays.
func TestHostileTarballEncoding(t *testing.T) {
	up := npmtest.NewRegistry(t)
	tarball := up.Publish(t, "bombtar", "1.0.0", 512)
	bomb := proxytest.GzipBomb(nil, 0, 256, nil)
	up.SetHook(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != tarball {
			return false
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Encoding", "gzip")
		w.Write(bomb)
		return true
	})
	n := startNora(t, npm.Config{Upstream: up.URL})
	get(t, n.URL+"/npm/bombtar")
	for try := range 2 {
		req, _ := http.NewRequest(http.MethodGet, n.URL+"/npm"+tarball, nil)
		var got int64
		// The fill may have failed its check before nora wrote a byte of
		// this response: then the connection ends with no response at all,
		// which is also a broken transfer. (On a connection used before,
		// Go's client would send the GET again, a second upstream request:
		// hence a new connection each time.)
		if resp, err := (&http.Transport{DisableKeepAlives: true}).RoundTrip(req); err == nil {
			got, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if err == nil && resp.StatusCode == 200 {
				t.Fatalf("the bomb was served whole as the tarball (%d bytes)", got)
			}
		}
		if got > int64(len(bomb)) {
			t.Fatalf("the client got %d bytes of a tarball the upstream sent in %d", got, len(bomb))
		}
		if hits := up.Hits(tarball); hits != try+1 {
			t.Fatalf("request %d made %d upstream requests: the bomb was stored", try+1, hits)
		}
	}
	n.WaitNoTempFiles(t, 10*time.Second)
}
