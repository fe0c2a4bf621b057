package main

import (
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"

	"nora/cache/s3/s3test"
)

// s3Config is a config file on bucket at endpoint.
func s3Config(t *testing.T, endpoint, bucket string) string {
	t.Helper()
	return writeConfig(t, fmt.Sprintf("[server]\nlisten = \"127.0.0.1:0\"\n[storage]\nbackend = \"s3\"\npath = %q\n"+
		"[storage.s3]\nendpoint = %q\nbucket = %q\nregion = %q\npath_style = true\n",
		t.TempDir(), endpoint, bucket, s3test.Region))
}

// TestConfigCheckConnect: nora config check --connect opens the bucket as
// serve would and says in one line what is wrong; without --connect it
// contacts nothing.
func TestConfigCheckConnect(t *testing.T) {
	srv := s3test.Start(t)
	s3test.Setenv(t)
	bucket := srv.NewBucket(t)
	f := func(path string, wantCode int, says string) {
		t.Helper()
		code, stdout, stderr := runCLI("config", "check", "--connect", "--config", path)
		out := strings.TrimSpace(stdout + stderr)
		t.Logf("config check --connect: %s", out)
		if code != wantCode || !strings.Contains(out, says) {
			t.Fatalf("config check --connect: exit %d, want %d; output %q, want it to say %q", code, wantCode, out, says)
		}
		if wantCode != 0 && (strings.Count(out, "\n") != 0 || strings.Contains(out, "RequestID")) {
			t.Fatalf("config check --connect: not one clear line:\n%s", out)
		}
	}
	f(s3Config(t, srv.Endpoint, bucket), 0, "ok: ")
	f(s3Config(t, srv.Endpoint, "no-such-bucket"), 1, `bucket "no-such-bucket" does not exist`)
	f(s3Config(t, "http://"+freeAddr(t), bucket), 1, "does not answer")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
	f(s3Config(t, srv.Endpoint, bucket), 1, "refused (check the AWS credentials)")
}

// TestConfigCheckOffline: without --connect, an S3 configuration is only
// read: the endpoint (a listener that counts connections) hears nothing.
func TestConfigCheckOffline(t *testing.T) {
	s3test.Setenv(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var conns atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			c.Close()
		}
	}()
	path := s3Config(t, "http://"+ln.Addr().String(), "some-bucket")
	if code, stdout, stderr := runCLI("config", "check", "--config", path); code != 0 || !strings.HasPrefix(stdout, "ok: ") {
		t.Fatalf("config check of an S3 configuration: exit %d\n%s%s", code, stdout, stderr)
	}
	if n := conns.Load(); n != 0 {
		t.Fatalf("config check without --connect made %d connections to the store", n)
	}
	// The same file with --connect does reach it: the listener counts.
	if code, _, _ := runCLI("config", "check", "--connect", "--config", path); code != 1 || conns.Load() == 0 {
		t.Fatalf("config check --connect against a listener that hangs up: exit %d after %d connections", code, conns.Load())
	}
}
