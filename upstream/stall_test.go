package upstream

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestStallReader(t *testing.T) {
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "20")
		hung := r.URL.Path == "/v2/x/blobs/hung"
		for i := range 20 {
			if hung && i == 5 {
				break
			}
			w.Write([]byte{'x'})
			w.(http.Flusher).Flush()
			time.Sleep(40 * time.Millisecond)
		}
		if !hung {
			return
		}
		select { // hang, as a stuck upstream does
		case <-done:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(done)
	r, _ := newTestRegistry(t, testConfig(), RegistryOptions{URL: srv.URL})

	f := func(path string, wantN int, wantStall bool) {
		t.Helper()
		resp, err := r.Do(context.Background(), http.MethodGet, "x", path, nil)
		if err != nil {
			t.Fatal(err)
		}
		body := StallReader(resp.Body, 500*time.Millisecond) // 12 times the gap: room for a loaded CI box
		defer body.Close()
		start := time.Now()
		b, err := io.ReadAll(body)
		if len(b) != wantN || IsUnavailable(err) != wantStall || !wantStall && err != nil {
			t.Fatalf("%s: read %d bytes, err %v; want %d bytes, stall %v", path, len(b), err, wantN, wantStall)
		}
		if wantStall && time.Since(start) > 5*time.Second {
			t.Fatalf("%s: stall noticed after %s", path, time.Since(start))
		}
	}
	f("blobs/slow", 20, false) // 800 ms in all, never 500 ms without a byte
	f("blobs/hung", 5, true)
}

func TestStallReaderSlowConsumer(t *testing.T) {
	pr, pw := io.Pipe()
	go func() {
		pw.Write([]byte("ab"))
		pw.Close()
	}()
	body := StallReader(pr, 50*time.Millisecond)
	defer body.Close()
	buf := make([]byte, 1)
	for range 2 {
		if _, err := body.Read(buf); err != nil {
			t.Fatal(err)
		}
		time.Sleep(150 * time.Millisecond) // the consumer dawdles; not a stall
	}
	if _, err := body.Read(buf); err != io.EOF {
		t.Fatalf("err %v, want EOF", err)
	}
}
