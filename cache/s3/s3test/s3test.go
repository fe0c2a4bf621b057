// Package s3test runs a real S3 server for tests: versitygw with its posix
// backend on loopback, installed by `make setup` (.ci/setup-s3.sh). Only
// tests import it.
package s3test

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"nora/cache"
)

// The root user of every test server.
const (
	AccessKey = "nora-test-access"
	SecretKey = "nora-test-secret-key-0123456789"
	Region    = "us-east-1"
)

// Server is a versitygw serving a temp directory until its test ends.
type Server struct {
	Endpoint string // "http://127.0.0.1:<port>"
	Dir      string // the posix backend's root: one directory per bucket
	// CAFile is the PEM of the CA that signed the server's certificate
	// (StartTLS); "" for plain HTTP.
	CAFile string
	addr   string
	t      testing.TB
	// tlsArgs are versitygw's --cert/--key flags under StartTLS.
	tlsArgs []string
	http    *http.Client

	mu  sync.Mutex
	cmd *exec.Cmd
}

var buckets atomic.Int64

// Start runs versitygw on a free loopback port. It fails the test when
// versitygw is not installed: CI installs it, and a skipped S3 suite would
// pass for nothing.
func Start(t testing.TB) *Server {
	t.Helper()
	s := newServer(t, "http://")
	s.Resume()
	t.Cleanup(s.Stop)
	return s
}

// StartTLS is Start on HTTPS, with a certificate for 127.0.0.1 from a CA
// of its own (CAFile), which no trust store knows.
func StartTLS(t testing.TB) *Server {
	t.Helper()
	s := newServer(t, "https://")
	pool, certFile, keyFile := writeCerts(t, s)
	s.tlsArgs = []string{"--cert", certFile, "--key", keyFile}
	s.http = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	s.Resume()
	t.Cleanup(s.Stop)
	return s
}

func newServer(t testing.TB, scheme string) *Server {
	t.Helper()
	if _, err := exec.LookPath("versitygw"); err != nil {
		t.Fatal("versitygw is not installed: run make setup (.ci/setup-s3.sh)")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return &Server{Endpoint: scheme + addr, Dir: t.TempDir(), addr: addr, t: t, http: http.DefaultClient}
}

// Stop kills the server (a store that stops answering); Resume starts it
// again on the same port and directory.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	s.cmd.Wait()
	s.cmd = nil
}

// Resume starts the server (again) and waits until it answers.
func (s *Server) Resume() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return
	}
	args := append([]string{"--port", s.addr, "--access", AccessKey, "--secret", SecretKey,
		"--region", Region, "--quiet", "--keep-alive"}, s.tlsArgs...)
	cmd := exec.Command("versitygw", append(args, "posix", s.Dir)...)
	cmd.Env = cleanEnv()
	out, err := os.Create(filepath.Join(s.t.TempDir(), "versitygw.log"))
	if err != nil {
		s.t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("cannot start versitygw: %v", err)
	}
	s.cmd = cmd
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		resp, err := s.http.Get(s.Endpoint + "/")
		if err == nil {
			resp.Body.Close()
			return
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(out.Name())
			s.t.Fatalf("versitygw did not answer on %s: %v\n%s", s.addr, err, log)
		}
	}
}

// cleanEnv is the process environment without any AWS_ variable.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") {
			env = append(env, kv)
		}
	}
	return env
}

// Env is what a nora process needs to reach the server through the
// standard credential chain, with every other AWS_ variable of this
// machine cleared: append it to cleanEnv-like environments.
func Env() []string {
	return []string{"AWS_ACCESS_KEY_ID=" + AccessKey, "AWS_SECRET_ACCESS_KEY=" + SecretKey,
		"AWS_REGION=" + Region, "AWS_EC2_METADATA_DISABLED=true"}
}

// ProcessEnv is the process environment of a nora child: this one without
// its AWS_ variables, plus Env.
func ProcessEnv() []string { return append(cleanEnv(), Env()...) }

// Setenv sets Env in this process for the test and clears every other
// AWS_ variable, so the SDK's standard chain finds the test user and
// nothing of the machine's (AWS_CA_BUNDLE, AWS_PROFILE, AWS_ENDPOINT_URL).
func Setenv(t testing.TB) {
	t.Helper()
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "AWS_") {
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
	}
	for _, kv := range Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
}

// NewBucket creates a bucket of its own for the test.
func (s *Server) NewBucket(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("nora-%d-%d", os.Getpid(), buckets.Add(1))
	_, err := s.Client().CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(name)})
	if err != nil {
		t.Fatalf("cannot create bucket %s: %v", name, err)
	}
	return name
}

// Config is the [storage.s3] section for bucket on this server.
func (s *Server) Config(bucket string) cache.S3Config {
	return cache.S3Config{Endpoint: s.Endpoint, Bucket: bucket, Region: Region, PathStyle: true}
}

// Client is an S3 client of the test user, for tests that look into the
// bucket behind nora's back.
func (s *Server) Client() *s3.Client {
	return s3.New(s3.Options{
		HTTPClient:   s.http,
		Region:       Region,
		BaseEndpoint: aws.String(s.Endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(AccessKey, SecretKey, ""),
		// versitygw and the SDK agree on these; nora sets the same.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
}
