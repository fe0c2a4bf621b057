package hosted

import "io"

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
