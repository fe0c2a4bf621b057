// Command soak is nora's load generator: clients of every format in a
// weighted mix (warm and cold image pulls by tag, by digest and by
// platform, pushes, npm, pip, Maven and cargo installs and publishes),
// each checking every byte it gets. TestSoak (make soak) runs it against
// a nora child process with the test upstreams behind fault proxies and
// kills nora while it runs; the command runs it against a nora already
// running, for ad-hoc use. It is not shipped.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"
)

const usage = `usage: go run ./cmd/soak --target URL [flags]

Runs --clients concurrent clients against the nora at --target for
--duration, each in a loop of operations picked by weight from what the
flags name (a kind with nothing to ask for is left out), checking every
digest, integrity and checksum, and prints a report: operations, errors
and p50/p99 per kind, and with --pid, nora's peak RSS and its open file
descriptors and goroutines before and after. The clients retry
connection errors and 429/502/503/504 with backoff (10 attempts, about
10 s, Retry-After honoured), then rerun the operation up to 3 times, as
docker, npm and pip do. Cold content, faults and kills need the test
upstreams and a nora the test starts: make soak.

Exit status 1 if any operation failed.

flags:
`

func main() {
	var t Target
	var clients int
	var duration time.Duration
	var pid int
	list := func(name, help string, add func(string)) {
		flag.Func(name, help+" (repeatable)", func(s string) error { add(s); return nil })
	}
	flag.StringVar(&t.Base, "target", "", "nora's base URL, http://host:port")
	flag.IntVar(&clients, "clients", 500, "concurrent clients")
	flag.DurationVar(&duration, "duration", time.Minute, "how long to run")
	flag.IntVar(&pid, "pid", 0, "nora's process id on this machine, for RSS and descriptors")
	flag.StringVar(&t.User, "user", "", "login that may push and publish (with --password); none: no writes")
	flag.StringVar(&t.Password, "password", "", "password or API token of --user")
	list("image", "repo:tag of an image to pull by tag and digest", func(s string) { t.Content.Images = append(t.Content.Images, Image{Ref: s}) })
	list("index", "repo:tag of a multi-arch index", func(s string) { t.Content.Indexes = append(t.Content.Indexes, s) })
	list("npm", "npm package name", func(s string) { t.Content.Npm = append(t.Content.Npm, s) })
	list("pypi", "PyPI project with a wheel", func(s string) { t.Content.PyPI = append(t.Content.PyPI, s) })
	list("maven", "group:artifact:version with a pom and a jar", func(s string) { t.Content.Maven = append(t.Content.Maven, s) })
	list("crate", "crate name", func(s string) { t.Content.Crates = append(t.Content.Crates, s) })
	flag.Usage = func() { fmt.Fprint(os.Stderr, usage); flag.PrintDefaults() }
	flag.Parse()
	t.Base = strings.TrimSuffix(t.Base, "/")
	if t.Base == "" {
		flag.Usage()
		os.Exit(2)
	}
	r, err := adHoc(t, clients, duration, pid)
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
	fmt.Print(r)
	if r.Errors() > 0 {
		os.Exit(1)
	}
}

func adHoc(t Target, clients int, d time.Duration, pid int) (*Report, error) {
	g := New(t, clients)
	if len(g.kinds) == 0 {
		return nil, errors.New("nothing to do: name content (--image, --npm, ...) or a login (--user)")
	}
	ctx := context.Background()
	if err := g.WarmUp(ctx); err != nil {
		return nil, err
	}
	watch, stopWatch := context.WithCancel(ctx)
	record := max(5*time.Second, d/12)
	peak := RSSWatch(watch, func() int { return pid }, 250*time.Millisecond, record)
	before := Settle(ctx, g, pid, nil)
	stop := make(chan struct{})
	start := time.Now()
	time.AfterFunc(d, func() { close(stop) })
	g.Run(stop)
	stopWatch()
	after := Settle(ctx, g, pid, &before)
	r := g.Report(d)
	r.Started = start
	r.Peak, r.PeakAt = peak.Get()
	r.Timeline, r.TimelineStep = peak.Timeline(), record
	r.Start, r.End = before, after
	return r, nil
}
