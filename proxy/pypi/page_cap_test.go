package pypi_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"nora/internal/units"
	"nora/proxy/pypi"
)

// TestPageCap has an HTML-only upstream serve a page of 100k anchors:
// nora lists every file when the page is exactly max_page_size, and
// refuses it (502, nothing cached) when the cap is one byte smaller.
func TestPageCap(t *testing.T) {
	const n = 100_000
	var b bytes.Buffer
	b.WriteString("<!DOCTYPE html>\n<html><body>\n")
	for i := range n {
		fmt.Fprintf(&b, "<a href=\"../../files/big-0.%d.tar.gz\">big-0.%d.tar.gz</a><br/>\n", i, i)
	}
	b.WriteString("</body></html>\n")
	page := b.Bytes()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/simple/big/" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(page)
	}))
	t.Cleanup(up.Close)

	f := func(max int, wantStatus, wantFiles int) {
		t.Helper()
		cfg := pypi.DefaultConfig()
		cfg.Upstream = up.URL + "/simple/"
		cfg.MaxPageSize = units.Size(max)
		n := startNora(t, cfg)
		resp, body := httpGet(t, n.URL+"/simple/big/", "Accept", acceptPip)
		if resp.StatusCode != wantStatus {
			t.Fatalf("cap %d, page of %d bytes: %d, want %d\n%.300s", max, len(page), resp.StatusCode, wantStatus, body)
		}
		if cached := n.Stored("refs/pypi/big/_page"); cached != (wantStatus == 200) {
			t.Fatalf("cap %d: page cached %v", max, cached)
		}
		if wantStatus != 200 {
			if !strings.Contains(string(body), "unusable") {
				t.Fatalf("cap %d: %s", max, body)
			}
			return
		}
		var js simpleJSON
		if err := json.Unmarshal(body, &js); err != nil {
			t.Fatal(err)
		}
		last := js.Files[len(js.Files)-1]
		if len(js.Files) != wantFiles || last.Filename != fmt.Sprintf("big-0.%d.tar.gz", wantFiles-1) || last.URL != n.URL+"/simple/big/"+last.Filename {
			t.Fatalf("cap %d: %d files, the last %s at %s", max, len(js.Files), last.Filename, last.URL)
		}
	}
	f(len(page), 200, n)
	f(len(page)-1, 502, 0)
}
