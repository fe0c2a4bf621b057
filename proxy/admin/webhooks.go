package admin

import (
	"net/http"
	"strconv"
)

// WebhookDeliveries lists up to limit recent deliveries of each webhook
// (webhook.Dispatcher.Deliveries).
type WebhookDeliveries func(limit int) (any, error)

// SetWebhooks serves GET /api/v1/webhooks/deliveries from fn. Call it
// before Serve; without it the list is empty.
func (s *Server) SetWebhooks(fn WebhookDeliveries) { s.webhooks = fn }

// maxDeliveries bounds ?limit= of the deliveries list, per webhook.
const maxDeliveries = 1000

// serveDeliveries implements GET /api/v1/webhooks/deliveries[?limit=N]:
// the last N (100 unless set) deliveries of each webhook, newest first.
func (s *Server) serveDeliveries(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		s.methodNotAllowed(w, r, "GET, HEAD")
		return
	}
	limit := 100
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxDeliveries {
			writeError(w, http.StatusBadRequest, "limit: want a number from 1 to 1000", v)
			return
		}
		limit = n
	}
	if s.webhooks == nil {
		writeJSON(w, http.StatusOK, map[string]any{"webhooks": []any{}})
		return
	}
	list, err := s.webhooks(limit)
	if err != nil {
		s.log.Error("cannot list webhook deliveries", "err", err)
		writeError(w, http.StatusInternalServerError, "cannot read the webhook queue", nil)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"webhooks": list})
}
