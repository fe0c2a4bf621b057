package main

import (
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// maxBody bounds what a client reads of one answer.
const maxBody = 64 << 20

// get fetches url (absolute, or a path below the target) and wants 200.
func (c *client) get(ctx context.Context, url, accept string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.abs(url), nil)
	if err != nil {
		return nil, err
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	return c.do(req, http.StatusOK)
}

// send writes body with the client's login and wants a 2xx.
func (c *client) send(ctx context.Context, method, url, ctype string, body []byte, header ...string) error {
	req, err := http.NewRequestWithContext(ctx, method, c.abs(url), bytes.NewReader(body))
	if err != nil {
		return err
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	req.SetBasicAuth(c.g.target.User, c.g.target.Password)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	_, err = c.do(req, 0)
	return err
}

// do sends req and reads the answer, which must have status want (0: any
// 2xx).
func (c *client) do(req *http.Request, want int) ([]byte, error) {
	resp, err := c.g.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if ok := resp.StatusCode == want || (want == 0 && resp.StatusCode/100 == 2); !ok {
		if len(b) > 200 {
			b = b[:200]
		}
		return nil, &statusError{method: req.Method, path: req.URL.Path, status: resp.StatusCode, body: strings.TrimSpace(string(b))}
	}
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, err)
	}
	return b, nil
}

func (c *client) abs(url string) string {
	if strings.HasPrefix(url, "http://") || strings.HasPrefix(url, "https://") {
		return url
	}
	return c.g.target.Base + url
}

// published accepts a write that failed, when it was a retry of one that
// nora had committed before its answer was lost (a kill between commit
// and answer): a conflict, and the content served as sent.
func published(ctx context.Context, err error, check func(context.Context) error) error {
	if err == nil {
		return nil
	}
	if s := status(err); s != http.StatusConflict && s != http.StatusBadRequest && s != http.StatusForbidden {
		return err
	}
	if check(ctx) != nil {
		return err
	}
	return nil
}

func wrongBytes(what string, got, want string) error {
	return fmt.Errorf("%s: checksum %s, want %s: %w", what, got, want, errWrongBytes)
}

func sha1Hex(b []byte) string   { s := sha1.Sum(b); return hex.EncodeToString(s[:]) }
func sha256Hex(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }
func sha512SRI(b []byte) string {
	s := sha512.Sum512(b)
	return "sha512-" + base64.StdEncoding.EncodeToString(s[:])
}
