package admin

import (
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/robfig/cron/v3"

	"nora/proxy/prefetch"
	"nora/upstream/upstreamtest"
)

// [[prefetch]] entries run at their ticks, the file read at each run; a
// tick while a prefetch runs is skipped. (The items fail: the registry
// wants a token that only nora's docker handler would fetch; what is
// fetched is the runner's business, tested in package proxy.)
func TestPrefetchSchedule(t *testing.T) {
	reg := upstreamtest.New(t, upstreamtest.Options{})
	reg.PushRandomImage(t, "library/one", "1", 1, 1024)
	reg.PushRandomImage(t, "library/two", "1", 1, 1024)
	s := startServer(t, Options{})
	gate := &gatedTransport{}
	svc := prefetch.NewService(s.ctx, prefetch.Options{Client: &http.Client{Transport: gate}, BaseURL: reg.URL}, nil)
	t.Cleanup(svc.Wait)
	list := filepath.Join(t.TempDir(), "list.txt")
	os.WriteFile(list, []byte("library/one:1\n"), 0o600)
	ticks := make(chan time.Time)
	entries := []prefetch.Config{{File: list, Schedule: "@daily", Platform: "linux/amd64"}}
	if err := s.setPrefetch(svc, entries, func(cron.Schedule) <-chan time.Time { return ticks }); err != nil {
		t.Fatal(err)
	}
	run := func(want string) {
		t.Helper()
		before, _ := svc.State()
		ticks <- time.Now()
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			st, ok := svc.State()
			if ok && st.State == prefetch.Done && !st.Started.Equal(before.Started) {
				if st.Trigger != "schedule" || st.Platform != "linux/amd64" || len(st.Summary.Items) != 1 ||
					st.Summary.Items[0].Text != want {
					t.Fatalf("scheduled run: %+v %+v", st, st.Summary)
				}
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("no scheduled run of %s: %+v", want, st)
			}
		}
	}
	run("library/one:1")
	os.WriteFile(list, []byte("library/two:1\n"), 0o600)
	run("library/two:1")
	code, got := call(t, s, http.MethodGet, "/api/v1/prefetch")
	if code != 200 || got["trigger"] != "schedule" {
		t.Fatalf("GET /api/v1/prefetch: %d %v", code, got)
	}

	// One at a time: while one runs, neither the API nor a tick starts
	// another. (Its requests wait before they leave: the registry would
	// refuse them at once, wanting a token, and end the run.)
	release := make(chan struct{})
	gate.hold.Store(&release)
	if _, err := svc.Start([]prefetch.Item{{Format: prefetch.Docker, Name: "library/one", Ref: "1"}}, "", "api"); err != nil {
		t.Fatal(err)
	}
	if err := s.prefetch.runEntry(entries[0]); err == nil {
		t.Error("a scheduled run started beside a running one")
	}
	close(release)
}

// gatedTransport holds every request while hold is set, until it is
// closed.
type gatedTransport struct {
	hold atomic.Pointer[chan struct{}]
}

func (g *gatedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if c := g.hold.Load(); c != nil {
		<-*c
	}
	return http.DefaultTransport.RoundTrip(r)
}

func TestPrefetchScheduleRefused(t *testing.T) {
	s := startServer(t, Options{})
	svc := prefetch.NewService(s.ctx, prefetch.Options{}, nil)
	if err := s.SetPrefetch(svc, []prefetch.Config{{Items: []string{"a:1"}, Schedule: "0 0 30 2 *"}}); err == nil {
		t.Fatal("a schedule that never fires was taken")
	}
}
