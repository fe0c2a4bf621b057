package admin

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"nora/internal/fault"
	"nora/proxy/httpx"
	"nora/proxy/inventory"
)

// content serves what is on the box (the inventory) and its changes:
// /api/v1/images, /api/v1/packages/<format>, /api/v1/cache.
type content struct {
	inv *inventory.Inventory
	// events hears of tags and deletes (nil: no one).
	events func(httpx.Event)
}

// SetContent serves the images, packages and cache resources from inv,
// and sends the tags and deletes they make to events (nil: none). Call
// it before Serve; without it those resources do not exist.
func (s *Server) SetContent(inv *inventory.Inventory, events func(httpx.Event)) {
	s.content = &content{inv: inv, events: events}
}

// isContent tells whether the API path name is one of content's.
func isContent(name string) bool {
	for _, p := range []string{"images", "packages", "cache"} {
		if name == p || strings.HasPrefix(name, p+"/") {
			return true
		}
	}
	return false
}

// serve routes the content resources.
func (c *content) serve(w http.ResponseWriter, r *http.Request, s *Server, name string) {
	get := r.Method == http.MethodGet || r.Method == http.MethodHead
	switch {
	case name == "images" && get:
		imgs, err := c.inv.Images(r.Context(), r.URL.Query().Get("repo"))
		c.answer(w, s, map[string]any{"images": imgs}, err)
	case name == "images/tag" && r.Method == http.MethodPost:
		c.tag(w, r, s)
	case strings.HasPrefix(name, "images/") && r.Method == http.MethodDelete:
		c.delete(w, r, s, strings.TrimPrefix(name, "images/"))
	case strings.HasPrefix(name, "packages/") && get:
		pkgs, err := c.inv.Packages(r.Context(), strings.TrimPrefix(name, "packages/"), r.URL.Query().Get("name"))
		c.answer(w, s, map[string]any{"packages": pkgs}, err)
	case name == "cache" && get:
		c.cached(w, r, s)
	case name == "cache/evict" && r.Method == http.MethodPost:
		var body struct {
			Ref string `json:"ref"`
		}
		if !readBody(w, r, &body) {
			return
		}
		ev, err := c.inv.Evict(r.Context(), body.Ref)
		c.answer(w, s, ev, err)
	case name == "images/tag" || name == "cache/evict":
		s.methodNotAllowed(w, r, "POST")
	case name == "images":
		s.methodNotAllowed(w, r, "GET, HEAD")
	case strings.HasPrefix(name, "images/"):
		s.methodNotAllowed(w, r, "DELETE")
	default:
		s.methodNotAllowed(w, r, "GET, HEAD")
	}
}

// cached implements GET /api/v1/cache[?format=F&limit=N].
func (c *content) cached(w http.ResponseWriter, r *http.Request, s *Server) {
	q := r.URL.Query()
	limit := 0
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > inventory.MaxItems {
			writeError(w, http.StatusBadRequest, "limit: want a number from 1 to "+strconv.Itoa(inventory.MaxItems), v)
			return
		}
		limit = n
	}
	list, err := c.inv.Cached(r.Context(), q.Get("format"), limit)
	c.answer(w, s, map[string]any{"cached": list}, err)
}

// tag implements POST /api/v1/images/tag {"source": ..., "target": ...}.
func (c *content) tag(w http.ResponseWriter, r *http.Request, s *Server) {
	var body struct {
		Source string `json:"source"`
		Target string `json:"target"`
	}
	if !readBody(w, r, &body) {
		return
	}
	t, err := c.inv.TagImage(r.Context(), body.Source, body.Target)
	if to, perr := inventory.ParseImageRef(body.Target); err == nil && perr == nil {
		c.emit(httpx.EventTag, to.Repository, t.Tag, string(t.Digest), t.Size)
	}
	c.answer(w, s, t, err)
}

// delete implements DELETE /api/v1/images/<repo>:<tag> and
// /api/v1/images/<repo>@<digest>.
func (c *content) delete(w http.ResponseWriter, r *http.Request, s *Server, ref string) {
	got, err := c.inv.DeleteImage(r.Context(), ref)
	if err == nil {
		what := got.Tag
		if what == "" {
			what = string(got.Digest)
		}
		c.emit(httpx.EventDelete, got.Repository, what, string(got.Digest), 0)
	}
	c.answer(w, s, map[string]string{"deleted": ref}, err)
}

// emit sends one event of the admin API (actor "admin": the socket and
// the admin permission are the same power) to the sink.
func (c *content) emit(kind, name, reference, dg string, size int64) {
	if c.events == nil {
		return
	}
	var id [8]byte
	_, _ = rand.Read(id[:])
	c.events(httpx.Event{ID: "admin-" + hex.EncodeToString(id[:]), Time: time.Now().UTC(), Kind: kind, Actor: "admin",
		Format: "docker", Name: name, Reference: reference, Digest: dg, Size: size})
}

// answer writes v, or err as the admin API's error by its fault kind.
func (c *content) answer(w http.ResponseWriter, s *Server, v any, err error) {
	if err == nil {
		writeJSON(w, http.StatusOK, v)
		return
	}
	status := http.StatusInternalServerError
	switch fault.KindOf(err) {
	case fault.NotFound:
		status = http.StatusNotFound
	case fault.Invalid:
		status = http.StatusBadRequest
	case fault.Conflict:
		status = http.StatusConflict
	case fault.TooLarge:
		status = http.StatusRequestEntityTooLarge
	case fault.Denied:
		status = http.StatusForbidden
	}
	if status == http.StatusInternalServerError {
		s.log.Warn("admin content request failed", "err", err)
	}
	writeError(w, status, fault.Message(err), nil)
}

// maxRequest bounds a JSON request body of the content resources.
const maxRequest = 64 << 10

// readBody decodes a JSON request body into v, answering 400 if it
// cannot.
func readBody(w http.ResponseWriter, r *http.Request, v any) bool {
	b, err := io.ReadAll(io.LimitReader(r.Body, maxRequest+1))
	if err == nil && len(b) > maxRequest {
		err = errors.New("larger than 64 KiB")
	}
	if err == nil {
		err = json.Unmarshal(b, v)
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, "cannot read the request body: "+err.Error(), nil)
		return false
	}
	return true
}
