package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"nora/proxy/proxytest"
)

// actionStep is the script of the composite action at the repository's
// root and the variables it maps from inputs.
type actionStep struct {
	script string
	inputs map[string]string // input name -> variable
}

func readAction(t *testing.T) (doc string, step actionStep) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "action.yml"))
	if err != nil {
		t.Fatal(err)
	}
	doc = string(b)
	step.inputs = map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^\s+(\w+): \$\{\{ inputs\.(\w+) \}\}$`).FindAllStringSubmatch(doc, -1) {
		step.inputs[m[2]] = m[1]
	}
	_, run, ok := strings.Cut(doc, "run: |\n")
	if !ok {
		t.Fatal("action.yml has no run: | block")
	}
	indent := len(run) - len(strings.TrimLeft(run, " "))
	for _, l := range strings.Split(run, "\n") {
		if strings.TrimSpace(l) != "" && !strings.HasPrefix(l, strings.Repeat(" ", indent)) {
			break
		}
		step.script += strings.TrimPrefix(l, strings.Repeat(" ", indent)) + "\n"
	}
	return doc, step
}

// TestAction runs the action's script as the runner would, with a nora on
// PATH that is this test binary.
func TestAction(t *testing.T) {
	doc, step := readAction(t)
	for _, in := range []string{"server", "audience", "write"} {
		if !strings.Contains(doc, "\n  "+in+":\n") || step.inputs[in] == "" {
			t.Fatalf("action.yml: input %s missing or not passed to the script (%v)", in, step.inputs)
		}
	}
	if !strings.Contains(doc, "permissions: id-token: write") {
		t.Fatal("the action's description does not say it needs id-token: write")
	}
	bin := t.TempDir()
	os.WriteFile(filepath.Join(bin, "nora"), []byte("#!/bin/sh\nNORATEST_MAIN=1 exec "+os.Args[0]+" \"$@\"\n"), 0o755)
	f := newLoginServerFake(t)
	home := t.TempDir()
	runAction := func(path string, inputs map[string]string, env ...string) (string, error) {
		cmd := exec.Command("bash", "-e", "-c", step.script)
		cmd.Env = append(env, "PATH="+path)
		for in, v := range inputs {
			cmd.Env = append(cmd.Env, step.inputs[in]+"="+v)
		}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	inputs := map[string]string{"server": f.URL, "audience": "", "write": "docker,npm"}
	out, err := runAction(bin+":/usr/bin:/bin", inputs, f.githubEnv(home)...)
	if err != nil || !slices.Equal(f.gotAudience(), []string{f.URL}) {
		t.Fatalf("action: %v, audience %q\n%s", err, f.gotAudience(), out)
	}
	if _, err := os.Stat(filepath.Join(home, ".npmrc")); err != nil || strings.Contains(out, f.noraToken) || strings.Contains(out, "maven:") {
		t.Fatalf("action wrote other than docker and npm, or showed the token: %v\n%s", err, out)
	}
	inputs["audience"] = "custom aud"
	if out, err := runAction(bin+":/usr/bin:/bin", inputs, f.githubEnv(home)...); err != nil || !slices.Equal(f.gotAudience(), []string{f.URL, "custom aud"}) {
		t.Fatalf("action with an audience: %v, %q\n%s", err, f.gotAudience(), out)
	}
	if out, err := runAction(bin+":/usr/bin:/bin", inputs, "HOME="+home, "GITHUB_ACTIONS=true"); err == nil || !strings.Contains(out, "id-token: write") {
		t.Fatalf("action without an ID token: %v\n%s", err, out)
	}
	if out, err := runAction("/usr/bin:/bin", inputs, f.githubEnv(home)...); err == nil || !strings.Contains(out, "nora is not on PATH") {
		t.Fatalf("action without nora: %v\n%s", err, out)
	}
}

// TestActionREADME: the README's workflow grants the token request and
// passes only inputs the action has; its GitLab job names the variable it
// declares.
func TestActionREADME(t *testing.T) {
	_, step := readAction(t)
	wf := proxytest.Snippet(t, "uses: acme/nora@")
	if !strings.Contains(wf, "id-token: write") {
		t.Fatalf("the README's workflow lacks id-token: write:\n%s", wf)
	}
	_, with, _ := strings.Cut(wf, "with:\n")
	for _, m := range regexp.MustCompile(`(?m)^\s+(\w+): `).FindAllStringSubmatch(with, -1) {
		if m[1] != "run" && step.inputs[m[1]] == "" {
			t.Fatalf("the README's workflow passes %s, which action.yml lacks", m[1])
		}
	}
	gl := proxytest.Snippet(t, "--id-token-env OIDC_TOKEN")
	if !strings.Contains(gl, "id_tokens:\n    OIDC_TOKEN:") {
		t.Fatalf("the README's GitLab job does not declare OIDC_TOKEN:\n%s", gl)
	}
}
