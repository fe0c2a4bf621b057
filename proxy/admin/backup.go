package admin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// BackupFunc writes a backup of the running nora's storage to w (the tar
// stream of cache/transfer).
type BackupFunc func(ctx context.Context, w io.Writer) error

// serveBackup implements GET /api/v1/backup: the backup as it is written.
// A failure after the first byte aborts the connection, so the client
// sees a cut stream (which has no end record) rather than a clean end.
func (s *Server) serveBackup(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		s.methodNotAllowed(w, r, "GET")
		return
	}
	w.Header().Set("Content-Type", "application/x-tar")
	cw := &countingWriter{w: w}
	err := s.backup(r.Context(), cw)
	switch {
	case err == nil:
		return
	case cw.n == 0:
		s.log.Warn("backup failed", "err", err)
		w.Header().Del("Content-Type")
		writeError(w, http.StatusInternalServerError, "backup failed", err.Error())
	default:
		s.log.Warn("backup failed mid-stream; the client gets a cut stream", "err", err, "bytes", cw.n)
		panic(http.ErrAbortHandler)
	}
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// ErrNoBackup is Backup's answer from a server that does not serve
// backups.
var ErrNoBackup = errors.New("the running nora does not serve backups on its admin API")

// Backup streams GET /api/v1/backup; the caller closes the body.
func (c *Client) Backup(ctx context.Context) (io.ReadCloser, error) {
	req, err := c.request(ctx, http.MethodGet, prefix+"backup", nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusNotFound {
		resp.Body.Close()
		return nil, ErrNoBackup
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		return nil, fmt.Errorf("admin API: %s: %s", resp.Status, b)
	}
	return resp.Body, nil
}
