package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
)

// maxIDToken bounds the read of an ID token, from a file or from GitHub's
// answer; real ones are a few KiB.
const maxIDToken = 64 << 10

// idTokenSource says where nora login takes the runner's ID token from.
type idTokenSource struct {
	envVar, file, audience string
}

// get returns the ID token and says where it came from: the variable or
// file the user named, else GitHub Actions' token request for the audience.
func (s idTokenSource) get(ctx context.Context, client *http.Client, env []string) (token, from string, err error) {
	switch {
	case s.envVar != "":
		token, from = strings.TrimSpace(lookupEnv(env, s.envVar)), "$"+s.envVar
		if token == "" {
			return "", "", fmt.Errorf("--id-token-env %s: the variable is unset or empty", s.envVar)
		}
	case s.file != "":
		from = s.file
		if token, err = readIDTokenFile(s.file); err != nil {
			return "", "", err
		}
	case lookupEnv(env, "ACTIONS_ID_TOKEN_REQUEST_URL") != "" && lookupEnv(env, "ACTIONS_ID_TOKEN_REQUEST_TOKEN") != "":
		from = "GitHub Actions"
		token, err = githubIDToken(ctx, client, lookupEnv(env, "ACTIONS_ID_TOKEN_REQUEST_URL"),
			lookupEnv(env, "ACTIONS_ID_TOKEN_REQUEST_TOKEN"), s.audience)
		if err != nil {
			return "", "", err
		}
	default:
		return "", "", noIDToken(env)
	}
	if strings.Count(token, ".") != 2 {
		return "", "", fmt.Errorf("the ID token from %s is not a JWT (three dot-separated parts)", from)
	}
	return token, from, nil
}

// noIDToken says why there is no ID token, for the CI it runs on.
func noIDToken(env []string) error {
	switch {
	case lookupEnv(env, "GITHUB_ACTIONS") == "true":
		return errors.New("no ID token: GitHub Actions offers one only to jobs with `permissions: id-token: write`" +
			" (ACTIONS_ID_TOKEN_REQUEST_URL is unset)")
	case lookupEnv(env, "GITLAB_CI") == "true":
		return errors.New("no ID token: declare one under the job's `id_tokens:` (with aud: the nora audience)" +
			" and name its variable with --id-token-env")
	}
	return errors.New("no ID token: outside GitHub Actions pass --id-token-env or --id-token-file, the variable or file that holds one")
}

func readIDTokenFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("--id-token-file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxIDToken+1))
	switch {
	case err != nil:
		return "", fmt.Errorf("--id-token-file: %w", err)
	case len(b) > maxIDToken:
		return "", fmt.Errorf("--id-token-file %s: larger than %d bytes, not an ID token", path, maxIDToken)
	case len(strings.TrimSpace(string(b))) == 0:
		return "", fmt.Errorf("--id-token-file %s is empty", path)
	}
	return strings.TrimSpace(string(b)), nil
}

// githubIDToken asks GitHub Actions' token service for the job's ID token
// with the audience (none: GitHub's default audience).
func githubIDToken(ctx context.Context, client *http.Client, requestURL, requestToken, audience string) (string, error) {
	u, err := url.Parse(requestURL)
	if err != nil {
		return "", errors.New("ACTIONS_ID_TOKEN_REQUEST_URL is not a URL")
	}
	if audience != "" {
		q := u.Query()
		q.Set("audience", audience)
		u.RawQuery = q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "bearer "+requestToken)
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("cannot get the ID token from GitHub Actions: %w", scrubURLError(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("cannot get the ID token from GitHub Actions: %s", resp.Status)
	}
	var body struct {
		Value string `json:"value"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxIDToken)).Decode(&body); err != nil || body.Value == "" {
		return "", errors.New("cannot get the ID token from GitHub Actions: the answer has no value")
	}
	return body.Value, nil
}

// scrubURLError drops the URL from a client error: the request URL of
// GitHub's token service is itself a credential of the job.
func scrubURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// idClaims are the claims nora login reports: enough to see which
// provider rule a job will match, nothing secret.
type idClaims struct {
	Issuer  string `json:"iss"`
	Subject string `json:"sub"`
}

// peekClaims reads the issuer and subject of a JWT without checking it
// (nora does that); zero when the payload does not parse.
func peekClaims(jwt string) idClaims {
	var c idClaims
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return c
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err == nil {
		json.Unmarshal(b, &c)
	}
	return c
}
