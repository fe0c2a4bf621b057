package admin

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"nora/auth"
	"nora/internal/fault"
	"nora/internal/units"
	"nora/proxy/httpx"
)

// TokenStore is what the admin API needs of the API token store
// (auth.APITokens): errors carry a fault.Kind (Conflict, NotFound,
// Invalid) that picks the answer's status.
type TokenStore interface {
	Create(name string, perms []string, ttl time.Duration) (string, auth.APITokenInfo, error)
	List() []auth.APITokenInfo
	Revoke(name string) error
}

// CreateToken is the body of POST /api/v1/tokens.
type CreateToken struct {
	Name        string   `json:"name"`
	Permissions []string `json:"permissions"`
	// Expires is a lifetime ("30d", "12h"); "" never expires.
	Expires string `json:"expires,omitempty"`
}

// NewToken is the answer to POST /api/v1/tokens: the only place the
// token's secret ever appears.
type NewToken struct {
	Name        string    `json:"name"`
	Token       string    `json:"token"`
	Permissions []string  `json:"permissions"`
	CreatedAt   time.Time `json:"created_at"`
	ExpiresAt   time.Time `json:"expires_at,omitzero"`
}

// adminActor is who the audit log says made a change through the socket:
// whoever may open it is admin, and nothing tells them apart.
const adminActor = "admin socket"

// maxTokenRequest bounds the body of POST /api/v1/tokens.
const maxTokenRequest = 64 << 10

// serveTokens routes /api/v1/tokens and /api/v1/tokens/{name}.
func (s *Server) serveTokens(w http.ResponseWriter, r *http.Request, rest string) {
	if rest == "" {
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			writeJSON(w, http.StatusOK, s.tokens.List())
		case http.MethodPost:
			s.createToken(w, r)
		default:
			s.methodNotAllowed(w, r, "GET, HEAD, POST")
		}
		return
	}
	if r.Method != http.MethodDelete {
		s.methodNotAllowed(w, r, "DELETE")
		return
	}
	err := s.tokens.Revoke(rest)
	s.auditToken(auth.AuditTokenRevoke, rest, err)
	if err != nil {
		s.tokenError(w, "cannot revoke the token", err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// createToken implements POST /api/v1/tokens.
func (s *Server) createToken(w http.ResponseWriter, r *http.Request) {
	var req CreateToken
	dec := json.NewDecoder(io.LimitReader(r.Body, maxTokenRequest))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "want a JSON object {name, permissions, expires}", err.Error())
		return
	}
	var ttl time.Duration
	if req.Expires != "" {
		var err error
		if ttl, err = units.ParseDuration(req.Expires); err != nil {
			writeError(w, http.StatusBadRequest, "expires: "+err.Error(), nil)
			return
		}
	}
	tok, info, err := s.tokens.Create(req.Name, req.Permissions, ttl)
	s.auditToken(auth.AuditTokenCreate, req.Name, err)
	if err != nil {
		s.tokenError(w, "cannot create the token", err)
		return
	}
	w.Header().Set("Location", prefix+"tokens/"+info.Name)
	writeJSON(w, http.StatusCreated, NewToken{Name: info.Name, Token: tok, Permissions: info.Permissions,
		CreatedAt: info.CreatedAt, ExpiresAt: info.ExpiresAt})
}

// tokenError answers a store error with the status of its kind; an
// unclassified one (the file could not be written) is logged, its
// message is not sent: it may name a path.
func (s *Server) tokenError(w http.ResponseWriter, what string, err error) {
	var fe *fault.Error
	if errors.As(err, &fe) && fe.Kind != fault.Internal {
		writeError(w, httpx.Status(err), fault.Message(err), nil)
		return
	}
	s.log.Error(what, "err", err)
	writeError(w, http.StatusInternalServerError, what, nil)
}

// auditToken records a token's creation or revocation, refused ones too.
func (s *Server) auditToken(action, name string, err error) {
	if s.audit == nil {
		return
	}
	result := auth.ResultOK
	if err != nil {
		result = strconv.Itoa(httpx.Status(err))
	}
	// A refused name may be anything a client sent: keep the line short.
	name = name[:min(len(name), 128)]
	s.audit.Record(auth.Event{Actor: adminActor, Action: action, Name: name, Result: result})
}

// CreateToken makes an API token (POST /api/v1/tokens); the answer holds
// its secret, which the server does not keep.
func (c *Client) CreateToken(ctx context.Context, req CreateToken) (NewToken, error) {
	var t NewToken
	err := c.do(ctx, http.MethodPost, prefix+"tokens", req, &t)
	return t, err
}

// Tokens lists the API tokens, without secrets (GET /api/v1/tokens).
func (c *Client) Tokens(ctx context.Context) ([]auth.APITokenInfo, error) {
	var ts []auth.APITokenInfo
	err := c.do(ctx, http.MethodGet, prefix+"tokens", nil, &ts)
	return ts, err
}

// RevokeToken removes the API token name (DELETE /api/v1/tokens/{name}); an
// unknown name is an *Error with status 404.
func (c *Client) RevokeToken(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, prefix+"tokens/"+url.PathEscape(name), nil, nil)
}
