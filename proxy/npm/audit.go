package npm

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/valyala/fasthttp"

	"nora/proxy/httpx"
)

// npm audit sends the dependency tree (gzip-compressed) and reads a report;
// both are bounded. The request is read whole before it goes upstream, so
// that a body the client broke off never reaches the upstream: it takes
// one of the server's few slots for bodies in memory (httpx.ReadBody),
// hence the small cap. The report is relayed as it comes.
const (
	maxAuditRequest  = 4 << 20
	maxAuditResponse = 16 << 20
	auditTimeout     = 2 * time.Minute
)

// newAuditClient is the client for forwarded POSTs. upstream.Registry sends
// no request bodies, so audits do not go through it (and not through its
// breaker or metrics).
func newAuditClient() *http.Client {
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Client{
		// A redirect is relayed, never followed: an upstream must not
		// point nora's POST at a host of its choosing (SSRF).
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           dialer.DialContext,
			ForceAttemptHTTP2:     true,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: 60 * time.Second,
			MaxIdleConnsPerHost:   4,
			IdleConnTimeout:       90 * time.Second,
		},
	}
}

// forwardAudit implements POST /npm/-/npm/v1/security/{advisories/bulk,
// audits/quick}: nothing to cache, the upstream answers.
func (h *Handler) forwardAudit(ctx *fasthttp.RequestCtx, api string) {
	httpx.SetLogInfo(ctx, "", "")
	if h.offline() {
		npmError(ctx, fasthttp.StatusServiceUnavailable, "npm audit needs the upstream registry, which is offline here")
		return
	}
	body, err := httpx.ReadBody(ctx, maxAuditRequest)
	if err != nil {
		npmError(ctx, httpx.BodyStatus(err), "cannot take the audit request: "+err.Error())
		return
	}
	// The report streams after the handler returns: cancel goes with it.
	rctx, cancel := h.deps.Detached(auditTimeout)
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, h.up.BaseURL()+"/"+api, bytes.NewReader(body))
	if err != nil {
		cancel()
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
		cancel()
		h.deps.Log.Debug("npm audit upstream unreachable", "err", err)
		npmError(ctx, fasthttp.StatusServiceUnavailable, "the upstream registry is unreachable; npm audit needs it")
		return
	}
	switch {
	case resp.StatusCode >= 500:
		resp.Body.Close()
		cancel()
		npmError(ctx, fasthttp.StatusServiceUnavailable, "the upstream audit service failed")
		return
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		resp.Body.Close()
		cancel()
		npmError(ctx, fasthttp.StatusBadGateway, "the upstream redirected the audit request; nora does not follow it")
		return
	case resp.ContentLength > maxAuditResponse:
		resp.Body.Close()
		cancel()
		npmError(ctx, fasthttp.StatusBadGateway, "the upstream audit report is larger than nora relays")
		return
	}
	ctx.SetStatusCode(resp.StatusCode)
	ctx.SetContentType(resp.Header.Get("Content-Type"))
	if ra := resp.Header.Get("Retry-After"); ra != "" && resp.StatusCode == http.StatusTooManyRequests {
		ctx.Response.Header.Set("Retry-After", ra)
	}
	httpx.SetBodyStream(ctx, &auditReport{body: resp.Body, left: maxAuditResponse, cancel: cancel}, resp.ContentLength)
}

// errReportTooLarge cuts the relay of a report of undeclared length that
// grows past maxAuditResponse: the client sees a broken transfer.
var errReportTooLarge = errors.New("the upstream audit report is larger than nora relays")

// auditReport relays the upstream's report, at most maxAuditResponse bytes.
type auditReport struct {
	body   io.ReadCloser
	left   int64
	cancel context.CancelFunc
}

func (r *auditReport) Read(p []byte) (int, error) {
	if r.left <= 0 {
		// One more byte tells a report of exactly the cap from a larger one.
		var one [1]byte
		if _, err := io.ReadFull(r.body, one[:]); err != nil {
			return 0, err // io.EOF: the report ended at the cap
		}
		return 0, errReportTooLarge
	}
	n, err := r.body.Read(p[:min(int64(len(p)), r.left)])
	r.left -= int64(n)
	return n, err
}

func (r *auditReport) Close() error {
	err := r.body.Close()
	r.cancel()
	return err
}
