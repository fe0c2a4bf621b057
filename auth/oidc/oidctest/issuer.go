// Package oidctest is an OpenID Connect issuer on loopback for tests: a
// discovery document, a JWKS, RS256 and ES256 keys that can be rotated,
// and ID tokens minted with whatever claims a test needs.
package oidctest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Alg is a JWS signing algorithm the issuer can sign with.
type Alg string

const (
	RS256 Alg = "RS256"
	ES256 Alg = "ES256"
)

// DefaultAudience is the aud of a Token that names none.
const DefaultAudience = "nora"

// Issuer is a running OIDC issuer. Its URL is the issuer identifier
// (http on 127.0.0.1).
type Issuer struct {
	URL string
	// Now is the clock the default iat and exp of minted tokens use.
	Now func() time.Time

	srv      *httptest.Server
	mu       sync.Mutex
	current  map[Alg]*key // signs new tokens
	retired  []*key       // still published until Retire
	seq      int
	down     atomic.Bool
	jwksGets atomic.Int64
	discGets atomic.Int64
}

type key struct {
	kid    string
	alg    Alg
	signer crypto.Signer
}

// New starts an issuer with one RS256 and one ES256 key, closed when the
// test ends.
func New(t testing.TB) *Issuer {
	t.Helper()
	is := &Issuer{Now: time.Now, current: map[Alg]*key{}}
	for _, a := range []Alg{RS256, ES256} {
		k, err := is.newKey(a)
		if err != nil {
			t.Fatal(err)
		}
		is.current[a] = k
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", is.discovery)
	mux.HandleFunc("GET /jwks", is.jwks)
	is.srv = httptest.NewServer(mux)
	is.URL = is.srv.URL
	t.Cleanup(is.srv.Close)
	return is
}

func (is *Issuer) newKey(a Alg) (*key, error) {
	var s crypto.Signer
	var err error
	switch a {
	case RS256:
		s, err = rsa.GenerateKey(rand.Reader, 2048)
	case ES256:
		s, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		return nil, fmt.Errorf("oidctest: unknown alg %q", a)
	}
	if err != nil {
		return nil, err
	}
	is.seq++
	return &key{kid: string(a) + "-" + strconv.Itoa(is.seq), alg: a, signer: s}, nil
}

// Rotate makes a fresh key sign the tokens of alg from now on; the old
// key stays in the JWKS until Retire. It returns the new key id.
func (is *Issuer) Rotate(t testing.TB, a Alg) string {
	t.Helper()
	is.mu.Lock()
	defer is.mu.Unlock()
	k, err := is.newKey(a)
	if err != nil {
		t.Fatal(err)
	}
	if old := is.current[a]; old != nil {
		is.retired = append(is.retired, old)
	}
	is.current[a] = k
	return k.kid
}

// Retire drops the rotated-out keys from the JWKS.
func (is *Issuer) Retire() {
	is.mu.Lock()
	is.retired = nil
	is.mu.Unlock()
}

// SetDown makes discovery and JWKS answer 503 (true) or serve again.
func (is *Issuer) SetDown(down bool) { is.down.Store(down) }

// JWKSFetches counts the JWKS requests served so far.
func (is *Issuer) JWKSFetches() int64 { return is.jwksGets.Load() }

// DiscoveryFetches counts the discovery requests served so far.
func (is *Issuer) DiscoveryFetches() int64 { return is.discGets.Load() }

// Token describes an ID token to mint. Zero fields take defaults.
type Token struct {
	Alg      Alg       // "": RS256
	Issuer   string    // "": the issuer's URL
	Audience string    // "": DefaultAudience
	Subject  string    // "": "test-subject"
	Expiry   time.Time // zero: Now() + 10 minutes
	IssuedAt time.Time // zero: Now()
	// Claims are added to (and override) the registered ones.
	Claims map[string]any
	// Stranger signs with a key the JWKS does not hold, under the
	// current key's id: a bad signature.
	Stranger bool
}

// Mint signs tok with the issuer's current key for its algorithm.
func (is *Issuer) Mint(t testing.TB, tok Token) string {
	t.Helper()
	s, err := is.mint(tok)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (is *Issuer) mint(tok Token) (string, error) {
	if tok.Alg == "" {
		tok.Alg = RS256
	}
	now := is.Now()
	claims := map[string]any{
		"iss": or(tok.Issuer, is.URL),
		"aud": or(tok.Audience, DefaultAudience),
		"sub": or(tok.Subject, "test-subject"),
		"iat": orTime(tok.IssuedAt, now).Unix(),
		"exp": orTime(tok.Expiry, now.Add(10*time.Minute)).Unix(),
	}
	for k, v := range tok.Claims {
		claims[k] = v
	}
	is.mu.Lock()
	k := is.current[tok.Alg]
	if k != nil && tok.Stranger {
		var err error
		stranger, err := is.newKey(tok.Alg)
		if err != nil {
			is.mu.Unlock()
			return "", err
		}
		k = &key{kid: k.kid, alg: k.alg, signer: stranger.signer}
	}
	is.mu.Unlock()
	if k == nil {
		return "", fmt.Errorf("oidctest: no key for %q", tok.Alg)
	}
	return sign(k, claims)
}

func sign(k *key, claims map[string]any) (string, error) {
	header, err := json.Marshal(map[string]string{"alg": string(k.alg), "kid": k.kid, "typ": "JWT"})
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	input := b64(header) + "." + b64(payload)
	sum := sha256.Sum256([]byte(input))
	var sig []byte
	switch s := k.signer.(type) {
	case *rsa.PrivateKey:
		sig, err = rsa.SignPKCS1v15(rand.Reader, s, crypto.SHA256, sum[:])
	case *ecdsa.PrivateKey:
		var r, ss *big.Int
		r, ss, err = ecdsa.Sign(rand.Reader, s, sum[:])
		if err == nil {
			// JWS wants r and s as two fixed 32-byte halves, not ASN.1.
			sig = make([]byte, 64)
			r.FillBytes(sig[:32])
			ss.FillBytes(sig[32:])
		}
	}
	if err != nil {
		return "", err
	}
	return input + "." + b64(sig), nil
}

func (is *Issuer) discovery(w http.ResponseWriter, r *http.Request) {
	is.discGets.Add(1)
	if is.down.Load() {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	writeJSON(w, map[string]any{
		"issuer":                                is.URL,
		"jwks_uri":                              is.URL + "/jwks",
		"authorization_endpoint":                is.URL + "/authorize",
		"token_endpoint":                        is.URL + "/token",
		"response_types_supported":              []string{"id_token"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{string(RS256), string(ES256)},
	})
}

func (is *Issuer) jwks(w http.ResponseWriter, r *http.Request) {
	is.jwksGets.Add(1)
	if is.down.Load() {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	is.mu.Lock()
	published := append([]*key{}, is.retired...)
	for _, a := range []Alg{RS256, ES256} {
		if k := is.current[a]; k != nil {
			published = append(published, k)
		}
	}
	is.mu.Unlock()
	keys := make([]map[string]string, 0, len(published))
	for _, k := range published {
		j, err := jwk(k)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		keys = append(keys, j)
	}
	writeJSON(w, map[string]any{"keys": keys})
}

func jwk(k *key) (map[string]string, error) {
	j := map[string]string{"kid": k.kid, "alg": string(k.alg), "use": "sig"}
	switch s := k.signer.(type) {
	case *rsa.PrivateKey:
		j["kty"] = "RSA"
		j["n"] = b64(s.N.Bytes())
		j["e"] = b64(big.NewInt(int64(s.E)).Bytes())
	case *ecdsa.PrivateKey:
		pt, err := s.PublicKey.Bytes() // 0x04 || X || Y
		if err != nil {
			return nil, err
		}
		j["kty"], j["crv"] = "EC", "P-256"
		j["x"], j["y"] = b64(pt[1:33]), b64(pt[33:65])
	}
	return j, nil
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func orTime(t, def time.Time) time.Time {
	if t.IsZero() {
		return def
	}
	return t
}
