package pull_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/opencontainers/go-digest"

	"nora/cache"
	"nora/cache/cachetest"
	"nora/proxy/pull"
	"nora/upstream"
)

// cuttingOrigin serves one file as a CDN does (Range, If-Range on its
// ETag) and cuts its first cuts answers after cutAt bytes: the connection
// closes mid-body, as on a lossy link.
type cuttingOrigin struct {
	data        []byte
	cutAt       int
	ignoreRange bool

	mu      sync.Mutex
	cuts    int
	ranges  []string // Range and If-Range of each request
	answers int
}

func (o *cuttingOrigin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	o.mu.Lock()
	o.answers++
	o.ranges = append(o.ranges, r.Header.Get("Range")+" "+r.Header.Get("If-Range"))
	cut := o.cuts > 0
	if cut {
		o.cuts--
	}
	o.mu.Unlock()
	if o.ignoreRange {
		r.Header.Del("Range")
	}
	w.Header().Set("ETag", `"v1"`)
	if !cut {
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(o.data))
		return
	}
	start := 0
	if rg := r.Header.Get("Range"); rg != "" {
		start, _ = strconv.Atoi(strings.TrimPrefix(strings.Split(rg, "-")[0], "bytes="))
		w.Header().Set("Content-Range", "bytes "+strconv.Itoa(start)+"-"+strconv.Itoa(len(o.data)-1)+"/"+strconv.Itoa(len(o.data)))
		w.Header().Set("Content-Length", strconv.Itoa(len(o.data)-start))
		w.WriteHeader(http.StatusPartialContent)
	} else {
		w.Header().Set("Content-Length", strconv.Itoa(len(o.data)))
	}
	w.Write(o.data[start:min(start+o.cutAt, len(o.data)-1)])
	w.(http.Flusher).Flush()
	conn, _, err := http.NewResponseController(w).Hijack()
	if err == nil {
		conn.Close()
	}
}

// TestArtifactResumesACutBody: an upstream body that breaks off is asked
// again from where it broke (Range, If-Range), and the artifact is whole
// and stored; when the upstream keeps cutting, or answers a range with the
// whole file, the cut stands and nothing is stored.
func TestArtifactResumesACutBody(t *testing.T) {
	data := make([]byte, 300<<10)
	rand.Read(data)
	d := digest.FromBytes(data)
	get := func(t *testing.T, o *cuttingOrigin) ([]byte, error, *cache.Cache) {
		srv := httptest.NewServer(o)
		t.Cleanup(srv.Close)
		log := slog.New(slog.DiscardHandler)
		reg, err := upstream.NewClient(upstream.Config{}, log, metrics.NewSet()).Registry(upstream.RegistryOptions{Name: "origin", URL: srv.URL})
		if err != nil {
			t.Fatal(err)
		}
		c := cachetest.Open(t, t.TempDir())
		a := pull.Artifacts{Store: c, Stall: time.Minute}
		obj, err := a.Get(context.Background(), pull.ArtifactRequest{Name: "refs/test/x.tgz", Upstream: reg, URL: "/x.tgz",
			Expect: cache.Expect{Digest: d, Size: int64(len(data))}})
		if err != nil {
			return nil, err, c
		}
		defer obj.Body.Close()
		b, err := io.ReadAll(obj.Body)
		c.WaitLater()
		return b, err, c
	}
	stored := func(c *cache.Cache) bool {
		_, err := c.Stat(context.Background(), cache.BlobKey(d))
		return err == nil
	}

	t.Run("cut, resumed", func(t *testing.T) {
		o := &cuttingOrigin{data: data, cutAt: 100 << 10, cuts: 2}
		b, err, c := get(t, o)
		if err != nil || !bytes.Equal(b, data) {
			t.Fatalf("read %d of %d bytes: %v", len(b), len(data), err)
		}
		if !stored(c) {
			t.Fatal("the resumed artifact was not stored")
		}
		want := []string{" ", `bytes=102400-307199 "v1"`, `bytes=204800-307199 "v1"`}
		if !slices.Equal(o.ranges, want) {
			t.Fatalf("asked %q, want %q", o.ranges, want)
		}
	})
	t.Run("cut more often than it is resumed", func(t *testing.T) {
		o := &cuttingOrigin{data: data, cutAt: 10 << 10, cuts: 10}
		if _, err, c := get(t, o); err == nil || stored(c) {
			t.Fatalf("read to a clean end (%v) or stored (%v)", err, stored(c))
		}
		if o.answers != 4 {
			t.Fatalf("%d answers, want the first and 3 resumes", o.answers)
		}
	})
	t.Run("a range answered whole", func(t *testing.T) {
		o := &cuttingOrigin{data: data, cutAt: 100 << 10, cuts: 1, ignoreRange: true}
		_, err, c := get(t, o)
		if err == nil || stored(c) {
			t.Fatalf("read to a clean end (%v) or stored (%v)", err, stored(c))
		}
		if o.answers != 2 {
			t.Fatalf("%d answers, want the first and one resume", o.answers)
		}
	})
}
