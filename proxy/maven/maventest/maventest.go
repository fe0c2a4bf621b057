// Package maventest runs a small Maven repository server for tests. It
// serves directories laid out as Maven repositories (Debian's
// /usr/share/maven-repo, fixtures a test builds) and adds what a real
// repository has and those trees lack: a checksum file next to every file
// and maven-metadata.xml for artifacts and plugin groups. It can be stopped
// and started again on the same address, and made to corrupt one file.
package maventest

import (
	"bytes"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// DebianRepo is where Debian's lib*-java packages install their Maven
// artifacts (.ci/setup-maven.sh installs the ones the tests need).
const DebianRepo = "/usr/share/maven-repo"

// Repo is one running repository server.
type Repo struct {
	// URL is the repository's base, "http://127.0.0.1:port/maven2".
	URL string

	roots []string
	addr  string

	mu       sync.Mutex
	srv      *http.Server
	tampered map[string]bool
	gets     map[string]int
	heads    map[string]int
}

// New serves roots, the first holding a path wins, until the test ends.
func New(t testing.TB, roots ...string) *Repo {
	t.Helper()
	r := &Repo{roots: roots, tampered: map[string]bool{}, gets: map[string]int{}, heads: map[string]int{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.addr = ln.Addr().String()
	r.URL = "http://" + r.addr + "/maven2"
	r.serve(ln)
	t.Cleanup(r.Stop)
	return r
}

func (r *Repo) serve(ln net.Listener) {
	srv := &http.Server{Handler: http.HandlerFunc(r.handle), ReadHeaderTimeout: 10 * time.Second}
	r.mu.Lock()
	r.srv = srv
	r.mu.Unlock()
	go srv.Serve(ln)
}

// Stop closes the listener and every connection: the upstream is down.
func (r *Repo) Stop() {
	r.mu.Lock()
	srv := r.srv
	r.srv = nil
	r.mu.Unlock()
	if srv != nil {
		srv.Close()
	}
}

// Start serves again on the same address after Stop.
func (r *Repo) Start(t testing.TB) {
	t.Helper()
	var ln net.Listener
	var err error
	for range 50 { // the old socket may linger for a moment
		if ln, err = net.Listen("tcp", r.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("cannot listen on %s again: %v", r.addr, err)
	}
	r.serve(ln)
}

// Tamper makes GET of path (relative to the repository root) serve bytes
// that differ from its checksum files, or serve it intact again.
func (r *Repo) Tamper(path string, on bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tampered[path] = on
}

// Gets is how many GET requests path received.
func (r *Repo) Gets(path string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.gets[path]
}

// Heads is how many HEAD requests path received.
func (r *Repo) Heads(path string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.heads[path]
}

// Requests is how many GET and HEAD requests paths under prefix received
// ("com/acme/lib/": anything of that artifact).
func (r *Repo) Requests(prefix string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, m := range []map[string]int{r.gets, r.heads} {
		for p, c := range m {
			if strings.HasPrefix(p, prefix) {
				n += c
			}
		}
	}
	return n
}

// TotalGets is how many GET requests the server received.
func (r *Repo) TotalGets() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, c := range r.gets {
		n += c
	}
	return n
}

var sumAlgs = map[string]func() hash.Hash{"md5": md5.New, "sha1": sha1.New, "sha256": sha256.New, "sha512": sha512.New}

func (r *Repo) handle(w http.ResponseWriter, req *http.Request) {
	rel, ok := strings.CutPrefix(req.URL.Path, "/maven2/")
	if !ok || rel == "" || path.Clean("/"+rel) != "/"+rel {
		http.NotFound(w, req)
		return
	}
	r.mu.Lock()
	switch req.Method {
	case http.MethodGet:
		r.gets[rel]++
	case http.MethodHead:
		r.heads[rel]++
	default:
		r.mu.Unlock()
		http.Error(w, "read-only", http.StatusMethodNotAllowed)
		return
	}
	tampered := r.tampered[rel]
	r.mu.Unlock()

	body, err := r.content(rel)
	if errors.Is(err, fs.ErrNotExist) {
		http.NotFound(w, req)
		return
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	if tampered && len(body) > 0 {
		body = slices.Clone(body)
		body[len(body)/2] ^= 0xff
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	// Ranges too, as Maven Central answers: a download cut mid-way is
	// resumed.
	http.ServeContent(w, req, "", time.Time{}, bytes.NewReader(body))
}

// content is the file at rel, or a checksum or metadata made for it.
func (r *Repo) content(rel string) ([]byte, error) {
	if b, err := r.readFile(rel); err == nil || !errors.Is(err, fs.ErrNotExist) {
		return b, err
	}
	if i := strings.LastIndexByte(rel, '.'); i > 0 && sumAlgs[rel[i+1:]] != nil {
		base, alg := rel[:i], rel[i+1:]
		b, err := r.content(base)
		if err != nil {
			return nil, err
		}
		h := sumAlgs[alg]()
		h.Write(b)
		sum := hex.EncodeToString(h.Sum(nil))
		if alg == "sha1" {
			// The "hex  filename" shape many repositories publish.
			return []byte(sum + "  " + path.Base(base) + "\n"), nil
		}
		return []byte(sum), nil
	}
	if path.Base(rel) == "maven-metadata.xml" {
		return r.metadata(path.Dir(rel))
	}
	return nil, fs.ErrNotExist
}

func (r *Repo) readFile(rel string) ([]byte, error) {
	for _, root := range r.roots {
		b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(rel)))
		if err == nil || !errors.Is(err, fs.ErrNotExist) && !isDir(err) {
			return b, err
		}
	}
	return nil, fs.ErrNotExist
}

func isDir(err error) bool { return errors.Is(err, syscall.EISDIR) }

// subdirs lists the directories (symlinks followed) under rel in every root.
func (r *Repo) subdirs(rel string) []string {
	var names []string
	for _, root := range r.roots {
		entries, _ := os.ReadDir(filepath.Join(root, filepath.FromSlash(rel)))
		for _, e := range entries {
			fi, err := os.Stat(filepath.Join(root, filepath.FromSlash(rel), e.Name()))
			if err == nil && fi.IsDir() && !slices.Contains(names, e.Name()) {
				names = append(names, e.Name())
			}
		}
	}
	return names
}

// metadata makes maven-metadata.xml for dir: the versions of an artifact,
// or the plugin prefixes of a group.
func (r *Repo) metadata(dir string) ([]byte, error) {
	artifact := path.Base(dir)
	var versions []string
	for _, v := range r.subdirs(dir) {
		if _, err := r.readFile(dir + "/" + v + "/" + artifact + "-" + v + ".pom"); err == nil {
			versions = append(versions, v)
		}
	}
	if len(versions) > 0 {
		slices.SortFunc(versions, compareVersions)
		release := ""
		for _, v := range versions {
			if !strings.HasSuffix(v, "SNAPSHOT") {
				release = v
			}
		}
		var b strings.Builder
		fmt.Fprintf(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<metadata>\n  <groupId>%s</groupId>\n  <artifactId>%s</artifactId>\n  <versioning>\n",
			strings.ReplaceAll(path.Dir(dir), "/", "."), artifact)
		fmt.Fprintf(&b, "    <latest>%s</latest>\n", versions[len(versions)-1])
		if release != "" {
			fmt.Fprintf(&b, "    <release>%s</release>\n", release)
		}
		b.WriteString("    <versions>\n")
		for _, v := range versions {
			fmt.Fprintf(&b, "      <version>%s</version>\n", v)
		}
		b.WriteString("    </versions>\n    <lastUpdated>20240101000000</lastUpdated>\n  </versioning>\n</metadata>\n")
		return []byte(b.String()), nil
	}
	var plugins []string
	for _, a := range r.subdirs(dir) {
		if strings.HasSuffix(a, "-plugin") && len(r.subdirs(dir+"/"+a)) > 0 {
			plugins = append(plugins, a)
		}
	}
	if len(plugins) == 0 {
		return nil, fs.ErrNotExist
	}
	slices.Sort(plugins)
	var b strings.Builder
	b.WriteString("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<metadata>\n  <plugins>\n")
	for _, a := range plugins {
		prefix := strings.TrimSuffix(strings.TrimPrefix(strings.TrimSuffix(a, "-plugin"), "maven-"), "-maven")
		fmt.Fprintf(&b, "    <plugin>\n      <name>%s</name>\n      <prefix>%s</prefix>\n      <artifactId>%s</artifactId>\n    </plugin>\n", a, prefix, a)
	}
	b.WriteString("  </plugins>\n</metadata>\n")
	return []byte(b.String()), nil
}

// compareVersions orders versions by their dot- and dash-separated parts,
// numbers numerically and after words ("debian" < "2.5" < "2.10").
func compareVersions(a, b string) int {
	pa, pb := strings.FieldsFunc(a, isSep), strings.FieldsFunc(b, isSep)
	for i := 0; i < len(pa) && i < len(pb); i++ {
		na, ea := strconv.Atoi(pa[i])
		nb, eb := strconv.Atoi(pb[i])
		switch {
		case ea == nil && eb == nil && na != nb:
			return na - nb
		case ea == nil && eb != nil:
			return 1
		case ea != nil && eb == nil:
			return -1
		case ea != nil && eb != nil && pa[i] != pb[i]:
			return strings.Compare(pa[i], pb[i])
		}
	}
	return len(pa) - len(pb)
}

func isSep(r rune) bool { return r == '.' || r == '-' }
