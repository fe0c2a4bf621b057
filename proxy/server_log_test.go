package proxy

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestFastAccessLineIsSlogs writes access lines through LogHandler's fast
// path and through slog's JSON handler, with the options `nora serve`
// uses and with others, and wants the same bytes (but the time, which
// differs by when each was taken; its format is checked).
func TestFastAccessLineIsSlogs(t *testing.T) {
	stamp := regexp.MustCompile(`^\{"time":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)",`)
	durationString := func(_ []string, a slog.Attr) slog.Attr {
		if a.Value.Kind() == slog.KindDuration {
			a.Value = slog.StringValue(a.Value.Duration().String())
		}
		return a
	}
	renameStatus := func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == "status" {
			a.Key = "code"
		}
		return a
	}
	f := func(opts *slog.HandlerOptions, level slog.Level, rec accessRecord, sent int64, d time.Duration, err error, fast bool) {
		t.Helper()
		var want, got bytes.Buffer
		plain := &Server{log: slog.New(slog.NewJSONHandler(&want, opts))}
		plain.logRequest(level, &rec, sent, d, err)
		(&Server{log: slog.New(NewLogHandler(&got, opts))}).logRequest(level, &rec, sent, d, err)
		if wrote := fastAccessLine(NewLogHandler(&bytes.Buffer{}, opts), level, &rec, sent, d, err); wrote != fast {
			t.Fatalf("fast path taken: %v, want %v", wrote, fast)
		}
		w, g := want.String(), got.String()
		if w == "" || g == "" {
			if w != g {
				t.Fatalf("slog wrote %q, fast path %q", w, g)
			}
			return
		}
		if !stamp.MatchString(w) || !stamp.MatchString(g) {
			t.Fatalf("time stamps:\nslog %s\nfast %s", w, g)
		}
		if w, g = stamp.ReplaceAllString(w, ""), stamp.ReplaceAllString(g, ""); w != g {
			t.Fatalf("\nslog %s\nfast %s", w, g)
		}
	}
	rec := accessRecord{id: "3fcbac8b7975bf7c575c6ee8", methodName: "GET", path: "/v2/library/alpine/manifests/3.20",
		format: "docker", repository: "docker.io/library/alpine", status: 200, cacheResult: "hit",
		remote: "127.0.0.1:57988", userAgent: "docker/27.3.1 go/go1.22.7 git-commit/41ca978 os/linux arch/amd64"}
	serve := &slog.HandlerOptions{Level: slog.LevelInfo, ReplaceAttr: durationString}
	f(serve, slog.LevelInfo, rec, 1234, 544*time.Microsecond, nil, true)
	f(nil, slog.LevelInfo, rec, 0, 0, nil, true)
	f(serve, slog.LevelDebug, rec, 1, time.Millisecond, nil, false) // not written by either
	f(&slog.HandlerOptions{Level: slog.LevelDebug}, slog.LevelDebug, rec, 1, time.Millisecond, nil, true)
	for _, d := range []time.Duration{time.Microsecond, 999 * time.Microsecond, 3 * time.Second, 90 * time.Minute,
		1<<62 - 1, 1500 * time.Nanosecond} {
		f(serve, slog.LevelInfo, rec, 1<<40, d, nil, true)
	}
	odd := rec
	odd.path = "/v2/a\"b\\c/\x00\x01\x1f\x7f\t\r\n<&>/é/\u2028\u2029/\xff\xfe/💥?token=[REDACTED]"
	odd.userAgent = "curl/8 \"quoted\" \\ \u2028 \xc3"
	odd.client, odd.repository, odd.cacheResult = "10.0.0.7", "", ""
	f(serve, slog.LevelWarn, odd, -1, time.Hour, errors.New("broke off: \"write: broken pipe\"\n"), true)
	f(serve, slog.LevelInfo, odd, 5, time.Millisecond, nil, true)
	// A ReplaceAttr that changes an access attribute gets slog's line.
	f(&slog.HandlerOptions{ReplaceAttr: renameStatus}, slog.LevelInfo, rec, 7, time.Millisecond, nil, false)
}

// TestLogLinesToAFileStayWhole: access lines and other lines written at
// once to a file (stdout), which LogHandler writes behind the replies,
// each land whole once flushed.
func TestLogLinesToAFileStayWhole(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := &Server{log: slog.New(NewLogHandler(f, nil))}
	rec := accessRecord{id: "x", methodName: "GET", path: "/v2/" + strings.Repeat("p", 3000), format: "docker", status: 200}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 200 {
				s.logRequest(slog.LevelInfo, &rec, 1, time.Millisecond, nil)
				s.log.Info("other", "detail", strings.Repeat("d", 3000))
			}
		})
	}
	wg.Wait()
	s.log.Handler().(*LogHandler).Flush()
	b, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	for _, l := range lines {
		var v map[string]any
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Fatalf("a line is not whole JSON: %v: %.200s", err, l)
		}
	}
	if len(lines) != 8*200*2 {
		t.Fatalf("%d lines, want %d", len(lines), 8*200*2)
	}
}
