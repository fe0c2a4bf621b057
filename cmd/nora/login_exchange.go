package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// oidcTokenPath is nora's OIDC exchange endpoint.
const oidcTokenPath = "/auth/oidc/token"

// maxExchangeAnswer bounds the read of the exchange's answer.
const maxExchangeAnswer = 64 << 10

// exchangeIDToken trades the ID token for a nora token at the server's
// /auth/oidc/token. Errors never carry either token.
func exchangeIDToken(ctx context.Context, client *http.Client, server, idToken string) (string, time.Duration, error) {
	body, _ := json.Marshal(map[string]string{"token": idToken})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, server+oidcTokenPath, bytes.NewReader(body))
	if err != nil {
		return "", 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	// No redirects: a 307 would resend the ID token wherever it points.
	c := *client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Do(req)
	if err != nil {
		return "", 0, fmt.Errorf("cannot reach nora: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxExchangeAnswer))
	if err != nil {
		return "", 0, fmt.Errorf("cannot read nora's answer: %w", err)
	}
	var ans struct {
		Token     string `json:"token"`
		ExpiresIn int64  `json:"expires_in"`
		Error     string `json:"error"`
	}
	jsonErr := json.Unmarshal(b, &ans)
	if resp.StatusCode != http.StatusOK {
		return "", 0, exchangeRefusal(resp, ans.Error, idToken)
	}
	if jsonErr != nil || ans.Token == "" {
		return "", 0, errors.New("nora's answer to the exchange has no token")
	}
	return ans.Token, time.Duration(ans.ExpiresIn) * time.Second, nil
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
