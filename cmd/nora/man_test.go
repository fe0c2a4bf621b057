package main

import (
	"flag"
	"io"
	"os"
	"strings"
	"testing"
)

var updateMan = flag.Bool("update-man", false, "rewrite the SYNOPSIS of systemd/nora.8 from the commands")

const manPath = "../../systemd/nora.8"

// nora(8)'s SYNOPSIS is the one the commands generate, and every command
// is described under COMMANDS: the page does not drift from the binary.
func TestManPage(t *testing.T) {
	b, err := os.ReadFile(manPath)
	if err != nil {
		t.Fatal(err)
	}
	page := string(b)
	head, rest, ok1 := strings.Cut(page, ".SH SYNOPSIS\n")
	synopsis, tail, ok2 := strings.Cut(rest, ".SH DESCRIPTION\n")
	if !ok1 || !ok2 {
		t.Fatalf("%s: no SYNOPSIS followed by DESCRIPTION", manPath)
	}
	root := newRootCmd(io.Discard, nil)
	want := manSynopsis(root)
	if *updateMan {
		page = head + ".SH SYNOPSIS\n" + want + ".SH DESCRIPTION\n" + tail
		if err := os.WriteFile(manPath, []byte(page), 0o644); err != nil {
			t.Fatal(err)
		}
	} else if synopsis != want {
		t.Errorf("the SYNOPSIS of %s is not the commands' (go test ./cmd/nora -run TestManPage -update-man rewrites it); want:\n%s", manPath, want)
	}
	_, commands, _ := strings.Cut(page, ".SH COMMANDS\n")
	commands, _, _ = strings.Cut(commands, ".SH OPTIONS\n")
	described := map[string]bool{}
	for _, line := range strings.Split(commands, "\n") {
		if v, ok := strings.CutPrefix(line, ".B "); ok {
			described[v] = true
		}
		if v, ok := strings.CutPrefix(line, ".BR "); ok {
			for _, w := range strings.Split(v, `", "`) {
				described[strings.Trim(w, `" `)] = true
			}
		}
	}
	for _, c := range manCommands(root) {
		path := roff(strings.TrimPrefix(c.CommandPath(), "nora "))
		if !described[path] {
			t.Errorf("%s: command %q is not described under COMMANDS (a line .B %s)", manPath, path, path)
		}
	}
}
