package sitetls

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// machine is an injectable host: its name, addresses and clock.
type machine struct {
	now   time.Time
	addrs []net.IP
}

func (m *machine) opts() Options {
	return Options{
		Now:      func() time.Time { return m.now },
		Addrs:    func() ([]net.IP, error) { return slices.Clone(m.addrs), nil },
		Hostname: func() (string, error) { return "edge1", nil },
	}
}

func newMachine() *machine {
	return &machine{now: time.Now(), addrs: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("192.168.7.20"), net.ParseIP("::1")}}
}

func leaf(t *testing.T, c *Certs) *x509.Certificate {
	t.Helper()
	cert, err := c.GetCertificate(&tls.ClientHelloInfo{})
	if err != nil {
		t.Fatal(err)
	}
	return cert.Leaf
}

func openAuto(t *testing.T, dir string, m *machine, hosts ...string) *Certs {
	t.Helper()
	cfg := Config{Mode: ModeAuto}
	if hosts != nil {
		cfg.Hosts = &hosts
	}
	c, err := Open(cfg, dir, m.opts())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestAutoSANs(t *testing.T) {
	m := newMachine()
	f := func(hosts []string, wantNames []string, wantIPs ...string) {
		t.Helper()
		l := leaf(t, openAuto(t, t.TempDir(), m, hosts...))
		if !slices.Equal(l.DNSNames, wantNames) {
			t.Errorf("hosts %q: DNS SANs %q, want %q", hosts, l.DNSNames, wantNames)
		}
		var got []string
		for _, ip := range l.IPAddresses {
			got = append(got, ip.String())
		}
		slices.Sort(got)
		if !slices.Equal(got, wantIPs) {
			t.Errorf("hosts %q: IP SANs %q, want %q", hosts, got, wantIPs)
		}
		// The certificate verifies for each name, from the CA alone.
		for _, n := range wantNames {
			if err := l.VerifyHostname(n); err != nil {
				t.Error(err)
			}
		}
	}
	f(nil, []string{"edge1", "edge1.local", "localhost"}, "127.0.0.1", "192.168.7.20", "::1")
	f([]string{"nora.example.com", "10.1.2.3"}, []string{"nora.example.com"}, "10.1.2.3", "127.0.0.1", "192.168.7.20", "::1")
}

func TestAutoChainAndFiles(t *testing.T) {
	dir := t.TempDir()
	c := openAuto(t, dir, newMachine())
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(c.CAPEM()) {
		t.Fatal("CAPEM holds no certificate")
	}
	l := leaf(t, c)
	if _, err := l.Verify(x509.VerifyOptions{Roots: pool, DNSName: "edge1.local"}); err != nil {
		t.Fatal(err)
	}
	if l.PublicKeyAlgorithm != x509.ECDSA || l.NotAfter.Sub(l.NotBefore) > serverLife+backdate {
		t.Errorf("leaf: %v, %v", l.PublicKeyAlgorithm, l.NotAfter.Sub(l.NotBefore))
	}
	for name, mode := range map[string]os.FileMode{caKeyFile: 0o600, serverKeyFile: 0o600, caCertFile: 0o644} {
		fi, err := os.Stat(filepath.Join(Dir(dir), name))
		if err != nil || fi.Mode().Perm() != mode {
			t.Errorf("%s: %v %v, want %v", name, fi.Mode(), err, mode)
		}
	}
	pem, err := os.ReadFile(CAFile(dir))
	if err != nil || string(pem) != string(c.CAPEM()) {
		t.Errorf("CAFile: %v", err)
	}
}

// A restart keeps the CA and the server certificate.
func TestAutoRestartKeeps(t *testing.T) {
	dir, m := t.TempDir(), newMachine()
	a := openAuto(t, dir, m)
	b := openAuto(t, dir, m)
	if string(a.CAPEM()) != string(b.CAPEM()) {
		t.Error("a restart made a new CA")
	}
	if leaf(t, a).SerialNumber.Cmp(leaf(t, b).SerialNumber) != 0 {
		t.Error("a restart issued a new server certificate")
	}
}

func TestAutoRenewal(t *testing.T) {
	dir, m := t.TempDir(), newMachine()
	c := openAuto(t, dir, m)
	first := leaf(t, c)
	serial := func() string { return leaf(t, c).SerialNumber.String() }
	check := func(wantNew bool, why string) {
		t.Helper()
		before := serial()
		if err := c.Check(); err != nil {
			t.Fatal(err)
		}
		if got := serial() != before; got != wantNew {
			t.Errorf("%s: renewed %v, want %v", why, got, wantNew)
		}
	}
	m.now = m.now.Add(59 * 24 * time.Hour)
	check(false, "59 days in")
	m.now = m.now.Add(2 * 24 * time.Hour)
	check(true, "61 days in (less than a third left)")
	if l := leaf(t, c); !l.NotAfter.After(first.NotAfter) || l.CheckSignatureFrom(c.ca.cert) != nil {
		t.Errorf("renewed certificate: until %v, first until %v", l.NotAfter, first.NotAfter)
	}
	check(false, "just renewed")
	m.addrs = append(m.addrs, net.ParseIP("10.9.9.9"))
	check(true, "a new address")
	if !slices.ContainsFunc(leaf(t, c).IPAddresses, net.ParseIP("10.9.9.9").Equal) {
		t.Error("new address not in the certificate")
	}
	// The renewed certificate is what a restart serves.
	if openAuto(t, dir, m).CAPEM() == nil || leaf(t, openAuto(t, dir, m)).SerialNumber.Cmp(leaf(t, c).SerialNumber) != 0 {
		t.Error("a restart does not serve the renewed certificate")
	}
}

func TestConfigCheck(t *testing.T) {
	hosts := func(h ...string) *[]string { return &h }
	f := func(c Config, wantKey string) {
		t.Helper()
		key, err := c.Check()
		if key != wantKey {
			t.Errorf("%+v: key %q (%v), want %q", c, key, err, wantKey)
		}
	}
	f(Config{Mode: ModeOff}, "")
	f(Config{Mode: ModeAuto, Hosts: hosts("nora.local", "10.0.0.1", "::1")}, "")
	f(Config{Mode: ModeFiles, Cert: "a", Key: "b"}, "")
	f(Config{Mode: "on"}, "mode")
	f(Config{Mode: ModeFiles, Cert: "a"}, "cert")
	f(Config{Mode: ModeAuto, Cert: "a", Key: "b"}, "cert")
	f(Config{Mode: ModeAuto, Hosts: hosts("bad host")}, "hosts")
	f(Config{Mode: ModeFiles, Cert: "a", Key: "b", Hosts: hosts("x")}, "hosts")
}
