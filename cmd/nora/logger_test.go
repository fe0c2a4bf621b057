package main

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"testing"
	"time"
)

// TestLoggerDurations: a time.Duration in any log line reads "30s", not
// 30000000000 nanoseconds, in groups too; other values are untouched.
func TestLoggerDurations(t *testing.T) {
	var buf bytes.Buffer
	log, err := newLogger(&buf, "debug")
	if err != nil {
		t.Fatal(err)
	}
	log.Info("retrying", "wait", 30*time.Second, slog.Group("fill", "took", 1500*time.Microsecond),
		"n", 3, "at", time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	var got struct {
		Wait string
		Fill struct{ Took string }
		N    int
		At   string
	}
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatalf("%v: %s", err, buf.Bytes())
	}
	if got.Wait != "30s" || got.Fill.Took != "1.5ms" || got.N != 3 || got.At != "2026-01-02T03:04:05Z" {
		t.Fatalf("line: %s", buf.Bytes())
	}
}
