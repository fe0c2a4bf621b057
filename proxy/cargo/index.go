package cargo

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	hosted "nora/hosted/cargo"
)

// maxIndexBytes caps one upstream index file; the largest crates.io files
// are about 1 MiB.
const maxIndexBytes = 16 << 20

// entry is what nora needs from one line of an index file (one version of
// the crate); cargo reads the rest (deps, features, yanked ...) itself.
type entry struct {
	Name  string `json:"name"`
	Vers  string `json:"vers"`
	Cksum string `json:"cksum"`
}

var errNoVersion = errors.New("version not in the index")

// lines calls fn for each non-empty line of an index file, without its
// trailing "\r".
func lines(body []byte, fn func(n int, line []byte) error) error {
	n := 0
	for len(body) > 0 {
		line := body
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			line, body = body[:i], body[i+1:]
		} else {
			body = nil
		}
		n++
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		if err := fn(n, line); err != nil {
			return err
		}
	}
	return nil
}

// checkIndex returns the DocRequest.Check for name's index file: every
// line must be a JSON object for a version of that crate. A file that
// fails is never cached, so cargo gets an error rather than a corrupt
// index.
func checkIndex(name string) func([]byte) error {
	return func(body []byte) error {
		return lines(body, func(n int, line []byte) error {
			var e entry
			if err := json.Unmarshal(line, &e); err != nil {
				return fmt.Errorf("line %d: %w", n, err)
			}
			if !strings.EqualFold(e.Name, name) || e.Vers == "" {
				return fmt.Errorf("line %d: not a version of %s", n, name)
			}
			return nil
		})
	}
}

// findVersion returns the index entry of version vers (exact match, as
// cargo asks for the "vers" it read), with a checksum nora can verify the
// download against.
func findVersion(body []byte, name, vers string) (entry, error) {
	var found entry
	err := lines(body, func(_ int, line []byte) error {
		// Versions are plain ASCII (validVersion): a line for vers holds
		// its bytes verbatim, so most lines are skipped unparsed.
		if !bytes.Contains(line, []byte(vers)) {
			return nil
		}
		var e entry
		if json.Unmarshal(line, &e) != nil || e.Vers != vers {
			return nil
		}
		if !strings.EqualFold(e.Name, name) || !hosted.ValidName(e.Name) {
			return fmt.Errorf("index entry for %s %s names crate %q", name, vers, e.Name)
		}
		e.Cksum = strings.ToLower(e.Cksum)
		if !hosted.ValidChecksum(e.Cksum) {
			return fmt.Errorf("index entry for %s %s has no valid sha256 cksum", name, vers)
		}
		found = e
		return errStop
	})
	switch {
	case errors.Is(err, errStop):
		return found, nil
	case err != nil:
		return entry{}, err
	}
	return entry{}, errNoVersion
}

var errStop = errors.New("stop")
