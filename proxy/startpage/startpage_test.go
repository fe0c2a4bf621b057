package startpage

import (
	"net"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// get serves one request for path with host and returns the response.
func get(t *testing.T, h *Handler, method, path, host string, hdr ...string) *fasthttp.Response {
	t.Helper()
	var req fasthttp.Request
	req.Header.SetMethod(method)
	req.SetRequestURI(path)
	req.Header.SetHost(host)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	var ctx fasthttp.RequestCtx
	ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}, nil)
	h.Serve(&ctx)
	var resp fasthttp.Response
	ctx.Response.CopyTo(&resp)
	return &resp
}

func auto() Config {
	return Config{Version: "1.2.3", TLSMode: "auto", Listen: "0.0.0.0:443", ListenPlain: "0.0.0.0:80",
		CA:      func() bool { return true },
		Ready:   func() Health { return Health{Ready: true, Status: "ready"} },
		Formats: []string{"docker", "npm", "pypi", "maven", "cargo"}}
}

func TestAutoShowsCASteps(t *testing.T) {
	resp := get(t, New(auto()), "GET", "/", "box.local")
	body := string(resp.Body())
	if resp.StatusCode() != 200 || !strings.HasPrefix(string(resp.Header.ContentType()), "text/html") {
		t.Fatalf("%d %s", resp.StatusCode(), resp.Header.ContentType())
	}
	for _, want := range []string{
		"version 1.2.3", "Ready.",
		"curl -fsSL http://box.local/ca.crt -o ~/nora-ca.crt",
		"/etc/docker/certs.d/box.local/ca.crt",
		`ca = "/etc/containerd/certs.d/box.local/ca.crt"`,
		"/etc/containers/certs.d/box.local/ca.crt",
		"npm config set registry https://box.local/npm/", "npm config set cafile", "NODE_EXTRA_CA_CERTS",
		"index-url = https://box.local/simple/", "cert = /usr/local/share/ca-certificates/nora-ca.crt",
		"sparse+https://box.local/cargo/index/", "cainfo = ",
		"https://box.local/maven2/", "keytool -importcert", "-Djavax.net.ssl.trustStore=",
		"update-ca-certificates", "/etc/pki/ca-trust/source/anchors", "update-ca-trust",
		"security add-trusted-cert", "certutil -addstore",
		"docker pull box.local/nginx", `"registry-mirrors": ["https://box.local"]`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	for _, bad := range []string{"insecure", "trusted-host", "<script"} {
		if strings.Contains(body, bad) {
			t.Errorf("page has %q", bad)
		}
	}
	if got := string(resp.Header.Peek("Cache-Control")); got != "no-store" {
		t.Errorf("Cache-Control %q", got)
	}
}

func TestNames(t *testing.T) {
	f := func(cfg Config, host string, hdr []string, wants ...string) {
		t.Helper()
		body := string(get(t, New(cfg), "GET", "/", host, hdr...).Body())
		for _, want := range wants {
			if !strings.Contains(body, want) {
				t.Errorf("%s: page lacks %q", host, want)
			}
		}
	}
	// Plain request on other ports: the TLS port and the plain one.
	c := auto()
	c.Listen, c.ListenPlain = ":8443", ":8080"
	f(c, "box.local:8080", nil, "http://box.local:8080/ca.crt", "https://box.local:8443/npm/", "docker pull box.local:8443/nginx")
	// Over TLS (a TLS proxy says so): the request's own name and port.
	f(c, "box.local:8443", []string{"X-Forwarded-Proto", "https"}, "http://box.local:8080/ca.crt", "https://box.local:8443/simple/")
	// No plain listener: the CA over the TLS one, unverified, with a hint.
	c.ListenPlain = ""
	f(c, "box.local:8443", []string{"X-Forwarded-Proto", "https"}, "curl -fsSLk https://box.local:8443/ca.crt", "nora ca")
	// public_url wins.
	c = auto()
	c.PublicURL = "https://nora.example.org/"
	f(c, "10.0.0.5", nil, "https://nora.example.org/npm/", "http://nora.example.org/ca.crt")
	// An address, IPv6 included.
	f(auto(), "[fd00::1]:80", nil, "http://[fd00::1]/ca.crt", "https://[fd00::1]/cargo/index/")
	// No Host: a placeholder, said as such.
	f(auto(), "", nil, Placeholder+"/ca.crt", "replace "+Placeholder)
}

func TestOffHasNoCASteps(t *testing.T) {
	c := auto()
	c.TLSMode = "off"
	c.Formats = []string{"npm", "pypi"}
	c.Ready = func() Health { return Health{Status: "unavailable", Failing: []string{"storage"}} }
	body := string(get(t, New(c), "GET", "/", "box.local:4000").Body())
	for _, want := range []string{"http://box.local:4000/npm/", "trusted-host = box.local:4000", "Not ready: unavailable; storage failing",
		`<td>docker</td><td class="off">not enabled</td>`, `<td>npm</td><td class="ok">enabled</td>`} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	for _, bad := range []string{"ca.crt", "cafile", "keytool", "update-ca", "docker pull", "cargo/index"} {
		if strings.Contains(body, bad) {
			t.Errorf("page has %q", bad)
		}
	}
	// files: the site's own certificate, no CA to fetch.
	c.TLSMode = "files"
	body = string(get(t, New(c), "GET", "/", "box.local").Body())
	if strings.Contains(body, "ca.crt") || !strings.Contains(body, "site's own certificate") || !strings.Contains(body, "https://box.local/npm/") {
		t.Errorf("files mode page:\n%s", body)
	}
}

// The server refuses a Host that is not host[:port]; the page must be safe
// without that guard: an evil name is escaped, never markup.
func TestEvilHostEscaped(t *testing.T) {
	for _, host := range []string{`x"><script>alert(1)</script>`, "a b", "x/../y"} {
		body := string(get(t, New(auto()), "GET", "/", host).Body())
		if strings.Contains(body, "<script>") || strings.Contains(body, host) || !strings.Contains(body, Placeholder) {
			t.Errorf("Host %q reached the page", host)
		}
	}
	c := auto()
	c.Version = `<b>v</b>`
	if body := string(get(t, New(c), "GET", "/", "box.local").Body()); !strings.Contains(body, "&lt;b&gt;v&lt;/b&gt;") {
		t.Errorf("version not escaped")
	}
}

func TestMethodsAndPaths(t *testing.T) {
	h := New(auto())
	head := get(t, h, "HEAD", "/", "box.local")
	full := get(t, h, "GET", "/", "box.local")
	if head.StatusCode() != 200 || head.Header.ContentLength() != len(full.Body()) {
		t.Errorf("HEAD: %d, length %d, GET's body %d", head.StatusCode(), head.Header.ContentLength(), len(full.Body()))
	}
	if r := get(t, h, "POST", "/", "box.local"); r.StatusCode() != 405 || string(r.Header.Peek("Allow")) != "GET, HEAD" {
		t.Errorf("POST: %d %q", r.StatusCode(), r.Header.Peek("Allow"))
	}
	for _, p := range []string{"/nothing", "/index.html", "/ca.crt/"} {
		if r := get(t, h, "GET", p, "box.local"); r.StatusCode() != 404 || string(r.Body()) != "404 page not found\n" {
			t.Errorf("%s: %d %q", p, r.StatusCode(), r.Body())
		}
	}
}
