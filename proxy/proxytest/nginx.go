package proxytest

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The speed comparisons put nginx's proxy_cache, the usual hand-built
// caching proxy, in front of the same upstream fixture as nora, and report
// nora's figures as a ratio of nginx's measured in the same run.
// .ci/setup-nginx.sh installs Debian's nginx; a benchmark without it skips.

// NginxOptions shape the cache nginx keeps.
type NginxOptions struct {
	// Valid is how long a 200 stays fresh (proxy_cache_valid); 0 is 10m.
	Valid time.Duration
	// Workers is worker_processes; 0 is auto (one per core).
	Workers int
	// AccessLog writes an access line per request, as nora does by default.
	AccessLog bool
	// Dir holds its cache, temp files and logs; empty: a new temp dir.
	Dir string
}

// Nginx is an nginx proxy_cache in front of one upstream.
type Nginx struct {
	URL string // http://127.0.0.1:PORT, no trailing slash
	Dir string // its cache, logs and pid file
}

// StartNginx runs nginx as a caching proxy of upstream (an http:// base
// URL) until b ends. Without an nginx binary the benchmark is skipped.
func StartNginx(b testing.TB, upstream string, o NginxOptions) *Nginx {
	bin, err := exec.LookPath("nginx")
	if err != nil {
		bin = "/usr/sbin/nginx"
		if _, err := os.Stat(bin); err != nil {
			b.Skip("nginx is not installed (.ci/setup-nginx.sh installs it)")
		}
	}
	dir := o.Dir
	if dir == "" {
		dir = b.TempDir()
	} else if err := os.MkdirAll(dir, 0o750); err != nil {
		b.Fatal(err)
	}
	addr := freeLoopback(b)
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(nginxConf(dir, addr, upstream, o)), 0o600); err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(bin, "-c", conf, "-p", dir+"/", "-e", filepath.Join(dir, "error.log"))
	out, err := os.Create(filepath.Join(dir, "stderr.log"))
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		out.Close()
	})
	n := &Nginx{URL: "http://" + addr, Dir: dir}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(n.URL + "/nginx-ready")
		if err == nil {
			resp.Body.Close()
			return n
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			b.Fatalf("nginx did not start on %s: %v\n%s", addr, err, log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func nginxConf(dir, addr, upstream string, o NginxOptions) string {
	valid := o.Valid
	if valid == 0 {
		valid = 10 * time.Minute
	}
	workers := "auto"
	if o.Workers > 0 {
		workers = fmt.Sprint(o.Workers)
	}
	access := "off"
	if o.AccessLog {
		access = filepath.Join(dir, "access.log")
	}
	r := strings.NewReplacer("{dir}", dir, "{addr}", addr, "{upstream}", strings.TrimSuffix(upstream, "/"),
		"{workers}", workers, "{valid}", fmt.Sprintf("%ds", int(valid.Seconds())), "{access}", access)
	return r.Replace(`daemon off;
master_process on;
user root;
worker_processes {workers};
pid {dir}/nginx.pid;
events { worker_connections 4096; }
http {
	access_log {access};
	sendfile on;
	tcp_nopush on;
	keepalive_requests 1000000;
	client_body_temp_path {dir}/client_body;
	proxy_temp_path {dir}/proxy_temp;
	fastcgi_temp_path {dir}/fastcgi;
	uwsgi_temp_path {dir}/uwsgi;
	scgi_temp_path {dir}/scgi;
	proxy_cache_path {dir}/cache levels=1:2 keys_zone=nora_bench:16m max_size=20g inactive=1d use_temp_path=off;
	server {
		listen {addr};
		location = /nginx-ready { return 204; }
		location / {
			proxy_pass {upstream};
			proxy_http_version 1.1;
			proxy_set_header Connection "";
			proxy_cache nora_bench;
			proxy_cache_key $request_method$request_uri$http_accept;
			proxy_cache_valid 200 {valid};
			proxy_cache_lock on;
			proxy_ignore_headers Cache-Control Expires Set-Cookie Vary;
		}
	}
}
`)
}
