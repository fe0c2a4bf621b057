package npm

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/valyala/fasthttp"

	"nora/proxy/httpx"
)

// npm audit sends the dependency tree (gzip-compressed) and reads a report;
// both are bounded.
const (
	maxAuditRequest  = 8 << 20
	maxAuditResponse = 16 << 20
	auditTimeout     = 2 * time.Minute
)

// newAuditClient is the client for forwarded POSTs. upstream.Registry sends
// no request bodies, so audits do not go through it (and not through its
// breaker or metrics).
func newAuditClient() *http.Client {
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Client{Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 60 * time.Second,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
	}}
}

// forwardAudit implements POST /npm/-/npm/v1/security/{advisories/bulk,
// audits/quick}: nothing to cache, the upstream answers.
func (h *Handler) forwardAudit(ctx *fasthttp.RequestCtx, api string) {
	httpx.SetLogInfo(ctx, "", "")
	if h.offline() {
		npmError(ctx, fasthttp.StatusServiceUnavailable, "npm audit needs the upstream registry, which is offline here")
		return
	}
	var in io.Reader = ctx.RequestBodyStream()
	if in == nil {
		in = bytes.NewReader(ctx.Request.Body())
	}
	// Read even a declared-too-large body up to the cap, so that a client
	// just over it gets the 413 rather than a reset connection.
	body, err := io.ReadAll(io.LimitReader(in, maxAuditRequest+1))
	if err != nil {
		npmError(ctx, fasthttp.StatusBadRequest, "cannot read the audit request")
		return
	}
	if len(body) > maxAuditRequest {
		npmError(ctx, fasthttp.StatusRequestEntityTooLarge, "audit request is too large")
		return
	}
	rctx, cancel := context.WithTimeout(context.Background(), auditTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, h.up.BaseURL()+"/"+api, bytes.NewReader(body))
	if err != nil {
		npmError(ctx, fasthttp.StatusInternalServerError, "cannot build the audit request")
		return
	}
	for _, k := range []string{"Content-Type", "Content-Encoding", "Accept", "User-Agent"} {
		if v := ctx.Request.Header.Peek(k); len(v) > 0 {
			req.Header.Set(k, string(v))
		}
	}
	resp, err := h.audit.Do(req)
	if err != nil {
		h.deps.Log.Debug("npm audit upstream unreachable", "err", err)
		npmError(ctx, fasthttp.StatusServiceUnavailable, "the upstream registry is unreachable; npm audit needs it")
		return
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, maxAuditResponse+1))
	switch {
	case err != nil || resp.StatusCode >= 500:
		npmError(ctx, fasthttp.StatusServiceUnavailable, "the upstream audit service failed")
		return
	case len(out) > maxAuditResponse:
		npmError(ctx, fasthttp.StatusBadGateway, "the upstream audit report is larger than nora relays")
		return
	}
	ctx.SetStatusCode(resp.StatusCode)
	ctx.SetContentType(resp.Header.Get("Content-Type"))
	if ra := resp.Header.Get("Retry-After"); ra != "" && resp.StatusCode == http.StatusTooManyRequests {
		ctx.Response.Header.Set("Retry-After", ra)
	}
	ctx.SetBody(out)
}
