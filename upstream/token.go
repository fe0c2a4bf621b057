package upstream

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// authState is what one upstream taught us about its auth: the scheme and
// token endpoint from its last challenge, and bearer tokens per scope.
type authState struct {
	mu      sync.Mutex
	scheme  string // "", "bearer" or "basic"
	realm   string
	service string
	tokens  map[string]cachedToken // by scope
	fetches singleflight.Group     // one token request per scope at a time
}

type cachedToken struct {
	token   string
	expires time.Time
}

// maxTokens bounds the token cache; expired entries are dropped beyond it.
const maxTokens = 1024

// defaultTokenTTL applies when a token server omits expires_in (the
// distribution token spec says 60 s).
const defaultTokenTTL = 60 * time.Second

// scopeFor is the token scope a request needs.
func scopeFor(method, repo string) string {
	if repo == "" {
		return "registry:catalog:*"
	}
	if idempotent(method) {
		return "repository:" + repo + ":pull"
	}
	return "repository:" + repo + ":pull,push"
}

// authorization is the Authorization header to send up front: a cached
// token, a fresh one if the upstream is known to want bearer tokens, basic
// credentials if it asked for those, or nothing.
func (r *Registry) authorization(ctx context.Context, scope string) (string, error) {
	a := &r.auth
	a.mu.Lock()
	scheme, realm, service := a.scheme, a.realm, a.service
	tok, ok := a.tokens[scope]
	a.mu.Unlock()
	switch scheme {
	case "basic":
		return r.basic(), nil
	case "bearer":
		if ok && r.now().Before(tok.expires) {
			return "Bearer " + tok.token, nil
		}
		t, err := r.token(ctx, realm, service, scope, nil)
		if err != nil {
			if IsUnavailable(err) {
				return "", err
			}
			// Let the request go out anonymously; its 401 brings a fresh
			// challenge and the caller gets that answer.
			r.log.Warn("cannot get upstream token", "error", err)
			return "", nil
		}
		return "Bearer " + t, nil
	}
	return "", nil
}

func (r *Registry) basic() string {
	if r.user == "" && r.pass == "" {
		return ""
	}
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(r.user+":"+r.pass))
}

// answerChallenge turns a 401's challenges into an Authorization header for
// one more try. ok is false when there is nothing new to try (no usable
// challenge, no credentials for basic, or basic already failed); then the
// 401 goes to the caller.
func (r *Registry) answerChallenge(ctx context.Context, resp *http.Response, scope, sent string) (authz string, ok bool, err error) {
	cs := parseChallenges(resp.Header.Values("Www-Authenticate"))
	if c, found := findChallenge(cs, "bearer"); found && c.params["realm"] != "" {
		realm, service := c.params["realm"], c.params["service"]
		a := &r.auth
		a.mu.Lock()
		a.scheme, a.realm, a.service = "bearer", realm, service
		delete(a.tokens, scope) // it was rejected, or we had none
		a.mu.Unlock()
		var extra []string
		if s := c.params["scope"]; s != "" && s != scope {
			extra = strings.Fields(s)
		}
		t, err := r.token(ctx, realm, service, scope, extra)
		if err != nil {
			if IsUnavailable(err) {
				return "", false, err
			}
			r.log.Warn("cannot get upstream token", "error", err)
			return "", false, nil
		}
		return "Bearer " + t, true, nil
	}
	if _, found := findChallenge(cs, "basic"); found {
		b := r.basic()
		if b == "" || strings.HasPrefix(sent, "Basic ") {
			return "", false, nil
		}
		r.auth.mu.Lock()
		r.auth.scheme = "basic"
		r.auth.mu.Unlock()
		return b, true, nil
	}
	return "", false, nil
}

// token gets a bearer token for scope (plus any extra scopes the challenge
// named), one request per scope at a time, and caches it. The request runs
// detached from any one caller so that a cancelled caller does not fail the
// others waiting for the same token.
func (r *Registry) token(ctx context.Context, realm, service, scope string, extra []string) (string, error) {
	key := realm + "\x00" + service + "\x00" + scope
	ch := r.auth.fetches.DoChan(key, func() (any, error) {
		timeout := r.c.cfg.ConnectTimeout + r.c.cfg.ResponseHeaderTimeout + 10*time.Second
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
		defer cancel()
		t, err := r.fetchToken(fctx, realm, service, append([]string{scope}, extra...))
		if err != nil {
			return "", err
		}
		a := &r.auth
		a.mu.Lock()
		if len(a.tokens) >= maxTokens {
			now := r.now()
			for k, v := range a.tokens {
				if now.After(v.expires) {
					delete(a.tokens, k)
				}
			}
		}
		if len(a.tokens) < maxTokens {
			a.tokens[scope] = t
		}
		a.mu.Unlock()
		return t.token, nil
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return "", res.Err
		}
		return res.Val.(string), nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// fetchToken is one GET to the token endpoint. Credentials go only to the
// realm allowed for them; anyone else gets an anonymous request.
func (r *Registry) fetchToken(ctx context.Context, realm, service string, scopes []string) (cachedToken, error) {
	u, err := parseHTTPURL(realm)
	if err != nil {
		return cachedToken{}, fmt.Errorf("cannot use token realm: %w", err)
	}
	if ip, err := netip.ParseAddr(u.Hostname()); err == nil && ip.Unmap().IsLinkLocalUnicast() && !r.realmAllowed(u) {
		// An upstream must not make nora call a cloud metadata service.
		return cachedToken{}, fmt.Errorf("cannot use token realm %s: link-local address", u.Host)
	}
	q := u.Query()
	if service != "" {
		q.Set("service", service)
	}
	for _, s := range scopes {
		q.Add("scope", s)
	}
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return cachedToken{}, fmt.Errorf("cannot build token request: %w", err)
	}
	req.Header.Set("User-Agent", userAgent)
	if b := r.basic(); b != "" && r.realmAllowed(u) {
		req.Header.Set("Authorization", b)
	}
	where := u.Scheme + "://" + u.Host + u.Path // never the query: it is ours, but keep logs short
	resp, err := r.c.http.Do(req)
	if err != nil {
		return cachedToken{}, fmt.Errorf("cannot get token from %s: %w: %w", where, ErrUnavailable, redactURL(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	if err != nil {
		return cachedToken{}, fmt.Errorf("cannot read token from %s: %w: %w", where, ErrUnavailable, err)
	}
	if resp.StatusCode != http.StatusOK {
		err := fmt.Errorf("cannot get token from %s: status %d", where, resp.StatusCode)
		if resp.StatusCode >= 500 {
			err = fmt.Errorf("%w: %w", err, ErrUnavailable)
		}
		return cachedToken{}, err
	}
	var tr struct {
		Token       string `json:"token"`
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
	}
	if err := json.Unmarshal(body, &tr); err != nil {
		return cachedToken{}, fmt.Errorf("cannot parse token from %s: %w", where, err)
	}
	t := cmp.Or(tr.Token, tr.AccessToken)
	if t == "" {
		return cachedToken{}, fmt.Errorf("cannot use token from %s: no token in response", where)
	}
	return cachedToken{token: t, expires: r.now().Add(tokenTTL(tr.ExpiresIn))}, nil
}

// tokenTTL keeps a token a little less than the server says, so that it
// does not expire on the way.
func tokenTTL(expiresIn int64) time.Duration {
	ttl := defaultTokenTTL
	if expiresIn > 0 && expiresIn < 1<<31 {
		ttl = time.Duration(expiresIn) * time.Second
	}
	return ttl - min(ttl/10, 10*time.Second)
}

// realmAllowed says whether credentials may go to the token endpoint u:
// the configured realm (same origin and path), else the upstream's origin.
func (r *Registry) realmAllowed(u *url.URL) bool {
	if r.realm == nil {
		return sameOrigin(u, r.base)
	}
	return sameOrigin(u, r.realm) && strings.TrimSuffix(u.Path, "/") == strings.TrimSuffix(r.realm.Path, "/")
}

// authTransport authorizes requests with what the upstream's last
// challenge asked for and, on a 401 from the upstream itself, tries once
// more with the credentials its challenge asks for. Errors getting a
// token are unavailable ones.
type authTransport struct {
	next http.RoundTripper
	r    *Registry
}

func (t *authTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	scope := scopeOf(ctx)
	authz, err := t.r.authorization(ctx, scope)
	if err != nil {
		return nil, err
	}
	resp, err := t.next.RoundTrip(authorized(req, authz))
	if err != nil || resp.StatusCode != http.StatusUnauthorized || !sameOrigin(resp.Request.URL, t.r.base) {
		return resp, err
	}
	next, ok, err := t.r.answerChallenge(ctx, resp, scope, authz)
	if err != nil {
		resp.Body.Close()
		return nil, err
	}
	if !ok {
		return resp, nil
	}
	drain(resp.Body)
	return t.next.RoundTrip(authorized(req, next))
}

// authorized is req with an Authorization header, if authz is one.
func authorized(req *http.Request, authz string) *http.Request {
	if authz == "" {
		return req
	}
	req = req.Clone(req.Context())
	req.Header.Set("Authorization", authz)
	return req
}
