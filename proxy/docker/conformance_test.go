package docker_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"nora/proxy/docker"
	"nora/upstream/upstreamtest"
)

// The OCI distribution-spec conformance suite, built from the Go module
// proxy and cached between runs.
const (
	conformanceModule  = "github.com/opencontainers/distribution-spec/conformance"
	conformanceVersion = "v0.0.0-20260831232431-97274622c111"
)

// conformanceBinary builds the suite once per version into the user cache
// directory. The suite's README asks for `go build` (a `go test -c` binary
// runs the same code through a deprecated TestLegacy wrapper).
func conformanceBinary(t *testing.T) string {
	t.Helper()
	cacheDir, err := os.UserCacheDir()
	if err != nil {
		cacheDir = os.TempDir()
	}
	dir := filepath.Join(cacheDir, "nora-conformance", conformanceVersion)
	bin := filepath.Join(dir, "conformance")
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	mod := t.TempDir()
	if err := os.WriteFile(filepath.Join(mod, "go.mod"), []byte("module noraconformance\n\ngo 1.24\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	run := func(args ...string) {
		t.Helper()
		cmd := exec.Command(goTool, args...)
		cmd.Dir = mod
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off", "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	run("get", conformanceModule+"@"+conformanceVersion)
	tmp := filepath.Join(dir, fmt.Sprintf("conformance.%d", os.Getpid()))
	run("build", "-o", tmp, conformanceModule)
	if err := os.Rename(tmp, bin); err != nil { // atomic: parallel runs may race
		t.Fatal(err)
	}
	return bin
}

// workflows groups the suite's API results the way the spec's four
// conformance workflows do.
var workflows = map[string][]string{
	"pull": {"Ping", "Manifest get by digest", "Manifest get by tag", "Manifest head by digest", "Manifest head by tag",
		"Blob get", "Blob get range", "Blob head"},
	"push": {"Blob push", "Blob post only", "Blob post put", "Blob chunked", "Blob streaming", "Blob mount",
		"Blob anonymous mount", "Blob upload cancel", "Manifest put by digest", "Manifest put by tag",
		"Manifest put with tag params", "Manifest put with subject"},
	"content discovery":  {"Tag listing", "Referrers"},
	"content management": {"Tag delete", "Tag delete atomic", "Manifest delete", "Manifest delete atomic", "Blob delete", "Blob delete atomic"},
}

// TestConformance runs all four workflows of the suite (pull, push, content
// discovery, content management) against a live nora that also has a proxied
// upstream, for the stable spec (1.1) and for 1.1+dev (upload cancel,
// required digest headers, tag parameters on push by digest).
func TestConformance(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the conformance suite")
	}
	bin := conformanceBinary(t)
	for _, version := range []string{"1.1", "dev"} {
		t.Run(version, func(t *testing.T) {
			up := upstreamtest.New(t, upstreamtest.Options{})
			n := startNora(t, options{upstreams: []docker.UpstreamConfig{{Name: "docker.io", URL: up.URL}}})
			results := t.TempDir()
			cmd := exec.Command(bin)
			cmd.Dir = results
			cmd.Env = append(os.Environ(),
				"OCI_VERSION="+version,
				"OCI_REGISTRY="+n.Addr, "OCI_TLS=disabled",
				"OCI_REPO1=conformance/repo1", "OCI_REPO2=conformance/repo2",
				"OCI_USERNAME="+testUser, "OCI_PASSWORD="+testPass,
				"OCI_API_PULL=true", "OCI_API_PUSH=true", // pull, push
				"OCI_API_TAGS_LIST=true", "OCI_API_REFERRER=true", // content discovery
				"OCI_API_TAGS_DELETE=true", "OCI_API_MANIFESTS_DELETE=true", "OCI_API_BLOBS_DELETE=true", // content management
				"OCI_API_BLOBS_UPLOAD_CANCEL=true",
				"OCI_RESULTS_DIR="+results, "OCI_LOG=error",
			)
			start := time.Now()
			out, err := cmd.CombinedOutput()
			report := string(out)
			summary, apis := conformanceSummary(report)
			t.Logf("conformance %s in %v:\n%s", version, time.Since(start).Round(time.Millisecond), summary)
			if os.Getenv("NORATEST_CONFORMANCE_REPORT") != "" {
				t.Log(report)
			}
			for _, wf := range []string{"pull", "push", "content discovery", "content management"} {
				counts := map[string]int{}
				for _, api := range workflows[wf] {
					counts[apis[api]]++
				}
				t.Logf("workflow %-18s: %d passed, %d failed, %d skipped, %d disabled",
					wf, counts["Pass"], counts["FAIL"]+counts["Error"], counts["Skip"], counts["Disabled"])
				for _, api := range workflows[wf] {
					if st := apis[api]; st != "Pass" && !(version == "1.1" && st == "Disabled" && api == "Manifest put with tag params") {
						t.Errorf("%s: %s is %q", wf, api, st)
					}
				}
			}
			if err != nil || !strings.Contains(report, "OCI Conformance Result: Pass") {
				t.Fatalf("conformance suite failed (%v); report in %s:\n%s", err, results, failures(report))
			}
		})
	}
}

// conformanceSummary picks the result and count lines and the per-API
// statuses out of the suite's report.
func conformanceSummary(report string) (string, map[string]string) {
	var b strings.Builder
	apis := map[string]string{}
	section := ""
	sc := bufio.NewScanner(strings.NewReader(report))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "OCI Conformance Result:"):
			section = "counts"
			b.WriteString(line + "\n")
			continue
		case strings.HasPrefix(line, "API conformance:"):
			section = "apis"
			continue
		case line == "" || !strings.HasPrefix(line, "  "):
			if section == "counts" {
				section = ""
			} else if section == "apis" && line == "" {
				section = ""
			}
			continue
		}
		switch section {
		case "counts":
			b.WriteString(line + "\n")
		case "apis":
			name, status, ok := strings.Cut(strings.TrimSpace(line), ":")
			if ok {
				apis[strings.TrimRight(name, ".")] = strings.TrimSpace(status)
			}
		}
	}
	return b.String(), apis
}

// failures keeps the report's lines about failed tests.
func failures(report string) string {
	var b strings.Builder
	for _, line := range strings.Split(report, "\n") {
		if strings.Contains(line, "FAIL") || strings.Contains(line, "Error") || strings.HasPrefix(strings.TrimSpace(line), "- ") {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}
