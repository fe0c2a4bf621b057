package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// oidcTokenPath is nora's OIDC exchange endpoint.
const oidcTokenPath = "/auth/oidc/token"

// maxExchangeAnswer bounds the read of the exchange's answer.
const maxExchangeAnswer = 64 << 10

// exchangeAttempts bounds the tries of an exchange that nora answers with
// 503 or 429 (its issuer briefly unreachable, say), all within --timeout.
const exchangeAttempts = 4

// maxExchangeWait caps the wait between two tries, whatever Retry-After
// says.
const maxExchangeWait = 10 * time.Second

// exchangeIDToken trades the ID token for a nora token at the server's
// /auth/oidc/token, trying again after a 503 or 429. Errors never carry
// either token.
func exchangeIDToken(ctx context.Context, client *http.Client, server, idToken string) (string, time.Duration, error) {
	for attempt := 1; ; attempt++ {
		token, ttl, wait, err := exchangeOnce(ctx, client, server, idToken)
		if err == nil || wait < 0 || attempt == exchangeAttempts {
			return token, ttl, err
		}
		select {
		case <-ctx.Done():
			return "", 0, err
		case <-time.After(wait):
		}
	}
}

// exchangeOnce is one try of the exchange; after a refusal worth trying
// again it says how long to wait first, else -1.
func exchangeOnce(ctx context.Context, client *http.Client, server, idToken string) (token string, ttl, wait time.Duration, err error) {
	wait = -1
	body, _ := json.Marshal(map[string]string{"token": idToken})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, server+oidcTokenPath, bytes.NewReader(body))
	if err != nil {
		return "", 0, wait, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	// No redirects: a 307 would resend the ID token wherever it points.
	c := *client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Do(req)
	if err != nil {
		return "", 0, wait, fmt.Errorf("cannot reach nora: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxExchangeAnswer))
	if err != nil {
		return "", 0, wait, fmt.Errorf("cannot read nora's answer: %w", err)
	}
	var ans struct {
		Token     string `json:"token"`
		ExpiresIn int64  `json:"expires_in"`
		Error     string `json:"error"`
	}
	jsonErr := json.Unmarshal(b, &ans)
	if resp.StatusCode == http.StatusServiceUnavailable || resp.StatusCode == http.StatusTooManyRequests {
		wait = 2 * time.Second
		if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && secs >= 0 {
			wait = min(time.Duration(secs)*time.Second, maxExchangeWait)
		}
	}
	if resp.StatusCode != http.StatusOK {
		return "", 0, wait, exchangeRefusal(resp, ans.Error, idToken)
	}
	if jsonErr != nil || ans.Token == "" {
		return "", 0, -1, errors.New("nora's answer to the exchange has no token")
	}
	return ans.Token, time.Duration(ans.ExpiresIn) * time.Second, -1, nil
}

// exchangeRefusal says why nora refused, in nora's words when it gave
// some, with the ID token cut out should they quote it.
func exchangeRefusal(resp *http.Response, reason, idToken string) error {
	msg := "nora refused the ID token: " + resp.Status
	switch {
	case resp.StatusCode == http.StatusNotFound:
		msg += " (does this nora have [[auth.oidc.providers]]? is --server its base URL?)"
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		msg += " (a redirect to " + resp.Header.Get("Location") + "; give --server the URL it points to)"
	}
	if reason = strings.TrimSpace(reason); reason != "" {
		if len(reason) > 300 {
			reason = reason[:300] + "..."
		}
		msg += ": " + strings.ReplaceAll(reason, idToken, "[ID token]")
	}
	return errors.New(msg)
}
