package prefetch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
)

// Item outcomes.
const (
	Fetched = "fetched" // at least one of its requests filled from an upstream (or joined a fill)
	Cached  = "cached"  // every request was answered from what nora held
	Failed  = "failed"
)

// CacheHeader is the response header through which the server tells the
// runner how the cache answered each request (httpx.LogInfo): only the
// prefetch listener's answers carry it.
const CacheHeader = "X-Nora-Prefetch-Cache"

// UserAgent names the runner's requests in the access log.
const UserAgent = "nora-prefetch"

// Result is the outcome of one item.
type Result struct {
	Item
	Status string `json:"status"`
	Bytes  int64  `json:"bytes"`
	Reason string `json:"reason,omitempty"`
}

// Options configure a run.
type Options struct {
	// Client sends the requests to nora's own handlers; BaseURL is where
	// (scheme and host).
	Client  *http.Client
	BaseURL string
	// LinkPrefix is the path of [server] public_url ("/nora" of
	// "https://host/nora"): links nora writes start with it, requests to
	// nora's handlers do not.
	LinkPrefix string
	// Platform narrows an image index to one platform ("linux/arm64",
	// "linux/arm/v7"); "" fetches every manifest of it.
	Platform string
	// Concurrency is how many items are fetched at once; 0 means 4.
	Concurrency int
}

// Progress is read while a run goes on.
type Progress struct {
	done  atomic.Int64
	bytes atomic.Int64
}

// Done is how many items have ended.
func (p *Progress) Done() int64 { return p.done.Load() }

// Bytes is how many body bytes the run has read so far.
func (p *Progress) Bytes() int64 { return p.bytes.Load() }

// Run fetches every item and returns one Result per item, in list order.
// It returns early, with the items not done failed, when ctx ends.
func Run(ctx context.Context, items []Item, o Options, pr *Progress) []Result {
	n := o.Concurrency
	if n <= 0 {
		n = 4
	}
	if pr == nil {
		pr = &Progress{}
	}
	res := make([]Result, len(items))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(n, len(items)) {
		wg.Go(func() {
			for i := range next {
				f := &fetcher{ctx: ctx, o: o, pr: pr}
				res[i] = f.item(items[i])
				pr.done.Add(1)
			}
		})
	}
	for i := range items {
		next <- i
	}
	close(next)
	wg.Wait()
	return res
}

// fetcher fetches one item and keeps what its requests tell.
type fetcher struct {
	ctx   context.Context
	o     Options
	pr    *Progress
	bytes int64
	// filled is set when a request was not answered from the cache.
	filled bool
}

func (f *fetcher) item(it Item) Result {
	var err error
	switch it.Format {
	case Docker:
		err = f.image(it)
	case Npm:
		err = f.npm(it)
	case PyPI:
		err = f.pypi(it)
	case Maven:
		err = f.maven(it)
	case Cargo:
		err = f.crate(it)
	default:
		err = fmt.Errorf("unknown format %q", it.Format)
	}
	r := Result{Item: it, Status: Cached, Bytes: f.bytes}
	switch {
	case err != nil:
		r.Status, r.Reason = Failed, err.Error()
	case f.filled:
		r.Status = Fetched
	}
	return r
}

// maxErrorBody bounds what of an error answer goes into a reason.
const maxErrorBody = 300

// get sends GET path; a non-2xx answer is an error that says why. The
// caller reads and closes the body.
func (f *fetcher) get(path string, accept ...string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(f.ctx, http.MethodGet, f.o.BaseURL+path, nil)
	if err != nil {
		return nil, err
	}
	for _, a := range accept {
		req.Header.Add("Accept", a)
	}
	req.Header.Set("User-Agent", UserAgent)
	resp, err := f.o.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	// "miss" started a fill, "fill-wait" joined one; "hit", "stale"
	// (served from the cache, upstream unreachable) and "hosted" were
	// there.
	if c := resp.Header.Get(CacheHeader); c == "miss" || c == "fill-wait" {
		f.filled = true
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		msg := strings.Join(strings.Fields(string(b)), " ")
		return nil, fmt.Errorf("GET %s: %s: %s", path, resp.Status, msg)
	}
	return resp, nil
}

// fetch GETs path and reads the body to its end, counting it.
func (f *fetcher) fetch(path string, accept ...string) error {
	resp, err := f.get(path, accept...)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, f.counted(resp.Body))
	if err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	return nil
}

// read GETs path and returns its body, at most limit bytes of it.
func (f *fetcher) read(path string, limit int64, accept ...string) ([]byte, error) {
	resp, err := f.get(path, accept...)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(f.counted(resp.Body), limit+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("GET %s: the answer is larger than %d bytes", path, limit)
	}
	return b, nil
}

// decode GETs path and decodes its JSON body, at most limit bytes of it,
// into v as it arrives (a packument may run to tens of MB); the rest of
// the body is read and discarded.
func (f *fetcher) decode(path string, limit int64, v any, accept ...string) error {
	resp, err := f.get(path, accept...)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body := f.counted(resp.Body)
	lr := &io.LimitedReader{R: body, N: limit}
	if err := json.NewDecoder(lr).Decode(v); err != nil {
		if lr.N <= 0 {
			return fmt.Errorf("GET %s: the answer is larger than %d bytes", path, limit)
		}
		return fmt.Errorf("GET %s: the answer is not the JSON expected: %v", path, err)
	}
	if _, err := io.Copy(io.Discard, body); err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	return nil
}

func (f *fetcher) counted(r io.Reader) io.Reader { return &countReader{r: r, f: f} }

type countReader struct {
	r io.Reader
	f *fetcher
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.f.bytes += int64(n)
	c.f.pr.bytes.Add(int64(n))
	return n, err
}

// errNoVersion is returned when a package has no version matching the item.
var errNoVersion = errors.New("no such version")
