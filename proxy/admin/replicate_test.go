package admin

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/robfig/cron/v3"

	"nora/proxy/replicate"
)

// gateMover lists one image and copies it when the gate opens.
type gateMover struct{ gate chan struct{} }

func (gateMover) Format() string { return "docker" }

func (gateMover) List(context.Context, replicate.Endpoint, func(string, string) bool) ([]replicate.Item, error) {
	return []replicate.Item{{Format: "docker", Name: "prod/app", Version: "v1"}}, nil
}

func (m gateMover) Copy(ctx context.Context, _, _ replicate.Endpoint, _ replicate.Item, _ bool, progress func(int64)) (replicate.Copied, error) {
	select {
	case <-m.gate:
	case <-ctx.Done():
		return replicate.Copied{}, ctx.Err()
	}
	progress(10)
	return replicate.Copied{Bytes: 10}, nil
}

// A [[replication.schedules]] entry runs at its tick with its request;
// while it runs the API refuses another (409, naming the running one);
// GET shows the report; an unknown remote is a 404.
func TestReplicateSchedule(t *testing.T) {
	s := startServer(t, Options{})
	m := gateMover{make(chan struct{})}
	svc := replicate.NewService(s.ctx, func(req replicate.Request) (replicate.Options, error) {
		if req.To != "hub" {
			return replicate.Options{}, errors.New("no such remote")
		}
		return replicate.Options{Movers: []replicate.Mover{m}}, nil
	}, slog.New(slog.DiscardHandler))
	t.Cleanup(svc.Wait)
	ticks := make(chan time.Time)
	sched := []replicate.Schedule{{To: "hub", Match: []string{"prod/*"}, Schedule: "@daily"}}
	if err := s.setReplicate(svc, sched, func(cron.Schedule) <-chan time.Time { return ticks }); err != nil {
		t.Fatal(err)
	}
	if code, _ := call(t, s, http.MethodGet, "/api/v1/replicate"); code != http.StatusNotFound {
		t.Fatalf("GET before any run: %d", code)
	}
	ticks <- time.Now()
	c := NewClient(s.Socket())
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if st, ok := svc.State(); ok && st.Items == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the scheduled run did not start")
		}
	}
	_, err := c.StartReplicate(context.Background(), replicate.Request{To: "hub", Match: []string{"x"}})
	var ae *Error
	if !errors.As(err, &ae) || ae.Status != http.StatusConflict {
		t.Fatalf("a second run while one runs: %v, want 409", err)
	}
	close(m.gate)
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		st, err := c.Replicate(context.Background())
		if err == nil && st.State == replicate.Done {
			if st.Trigger != "schedule" || st.Report == nil || st.Report.Copied != 1 || st.Bytes != 10 || st.Request.Match[0] != "prod/*" {
				t.Fatalf("scheduled run: %+v %+v", st, st.Report)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the scheduled run did not end: %+v %v", st, err)
		}
	}
	if _, err := c.StartReplicate(context.Background(), replicate.Request{To: "hub"}); !errors.As(err, &ae) || ae.Status != http.StatusBadRequest {
		t.Fatalf("no match: %v, want 400", err)
	}
}
