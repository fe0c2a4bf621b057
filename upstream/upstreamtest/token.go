package upstreamtest

import (
	"crypto/rand"
	"encoding/json"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"
)

// grant is what one issued token allows: actions per repository.
type grant struct {
	repos   map[string][]string
	expires time.Time
}

func (g grant) allows(repo, action string) bool {
	acts := g.repos[repo]
	return slices.Contains(acts, action) || slices.Contains(acts, "*")
}

// serveToken is the token endpoint, like Docker Hub's auth service: GET
// ?service=…&scope=repository:<name>:<actions> (scope repeatable), answered
// with {"token", "access_token", "expires_in", "issued_at"}. Every requested
// scope is granted; with Options.Username set, only to those credentials.
func (g *Registry) serveToken(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		http.NotFound(w, r) // no OAuth2 POST flow: clients fall back to GET
		return
	}
	if g.opts.Username != "" {
		u, p, ok := r.BasicAuth()
		if !ok || u != g.opts.Username || p != g.opts.Password {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"details":"incorrect username or password"}`))
			return
		}
	}
	var scopes []string
	for _, s := range r.URL.Query()["scope"] {
		scopes = append(scopes, strings.Fields(s)...)
	}
	tok := g.mint(scopes, true)
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"token":        tok,
		"access_token": tok,
		"expires_in":   int(math.Ceil(g.opts.TokenExpiry.Seconds())),
		"issued_at":    time.Now().UTC().Format(time.RFC3339),
	})
}

// mint issues a token for scopes; counted says whether TokensIssued sees
// it (the helpers' own pushes mint tokens that it does not).
func (g *Registry) mint(scopes []string, counted bool) string {
	gr := grant{repos: map[string][]string{}, expires: time.Now().Add(g.opts.TokenExpiry)}
	for _, s := range scopes {
		rest, ok := strings.CutPrefix(s, "repository:")
		i := strings.LastIndexByte(rest, ':')
		if !ok || i < 0 {
			continue
		}
		repo := rest[:i]
		gr.repos[repo] = append(gr.repos[repo], strings.Split(rest[i+1:], ",")...)
	}
	tok := "tok-" + rand.Text()
	g.mu.Lock()
	g.tokens[tok] = gr
	if counted {
		g.issued++
	}
	g.mu.Unlock()
	return tok
}

// authorized says whether r carries a live token this server issued that
// allows action on repo (repo "" : any live token).
func (g *Registry) authorized(r *http.Request, repo, action string) bool {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return false
	}
	g.mu.Lock()
	gr, ok := g.tokens[tok]
	g.mu.Unlock()
	if !ok || time.Now().After(gr.expires) {
		return false
	}
	return repo == "" || gr.allows(repo, action)
}

// TokensIssued is the number of tokens the token server issued.
func (g *Registry) TokensIssued() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.issued
}
