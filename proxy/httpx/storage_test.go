package httpx

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"syscall"
	"testing"
)

func TestLocalFault(t *testing.T) {
	f := func(err error, want bool) {
		t.Helper()
		if got := LocalFault(err); got != want {
			t.Fatalf("LocalFault(%v) = %v, want %v", err, got, want)
		}
	}
	write := &fs.PathError{Op: "write", Path: "/data/tmp/upload-1", Err: syscall.ENOSPC}
	f(write, true)
	f(fmt.Errorf("upload body ended early after 5 bytes: %w", write), true)
	f(errors.Join(errors.New("body ended"), fmt.Errorf("cannot roll back: %w", write)), true)
	f(&os.LinkError{Op: "rename", Old: "/a", New: "/b", Err: syscall.EIO}, true)
	f(nil, false)
	f(io.ErrUnexpectedEOF, false)
	f(fmt.Errorf("body broke off: %w", &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}), false)
}
