package hosted

import (
	"io"
	"os"
)

// ErrWriter passes writes on to W and remembers the error W returned, so
// a copy that fails can tell its destination's failure (the store's, a
// full disk) from its source's (a client's body that broke off).
type ErrWriter struct {
	W   io.Writer
	Err error
}

func (w *ErrWriter) Write(p []byte) (int, error) {
	n, err := w.W.Write(p)
	if err != nil {
		w.Err = err
	}
	return n, err
}

// Spooled is the path of an upload's finished temp file in the cache's
// temp dir. A commit hands it to CommitFile with Take (CommitFile consumes
// it either way); a deferred Discard removes it if nothing took it, so a
// refused upload leaves nothing behind.
type Spooled string

// Take hands the file on: Discard no longer removes it.
func (s *Spooled) Take() string {
	p := string(*s)
	*s = ""
	return p
}

// Discard removes the file unless it was taken.
func (s *Spooled) Discard() {
	if *s != "" {
		os.Remove(string(*s))
		*s = ""
	}
}
