package main

import (
	"fmt"
	"net"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// notifier tells systemd about the service's state (sd_notify(3), the
// protocol of Type=notify units): one datagram per message to the unix
// socket named by $NOTIFY_SOCKET. Outside systemd the variable is unset and
// every call does nothing.
type notifier struct {
	addr *net.UnixAddr // nil: no $NOTIFY_SOCKET
}

// newNotifier reads NOTIFY_SOCKET from env (os.Environ form): a socket
// file, or with a leading "@" an abstract socket (Go maps "@" to the
// abstract namespace). Other forms (vsock:) are for VMs and are ignored.
func newNotifier(env []string) *notifier {
	path := lookupEnv(env, "NOTIFY_SOCKET")
	if !strings.HasPrefix(path, "/") && !strings.HasPrefix(path, "@") {
		return &notifier{}
	}
	return &notifier{addr: &net.UnixAddr{Name: path, Net: "unixgram"}}
}

// send writes one message of newline-separated VAR=value assignments.
func (n *notifier) send(state string) error {
	if n.addr == nil {
		return nil
	}
	c, err := net.DialUnix("unixgram", nil, n.addr)
	if err != nil {
		return fmt.Errorf("cannot notify systemd: %w", err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(state)); err != nil {
		return fmt.Errorf("cannot notify systemd: %w", err)
	}
	return nil
}

// ready says start-up (or a reload) is complete: the listener is bound.
func (n *notifier) ready(status string) error {
	return n.send("READY=1\nSTATUS=" + oneLine(status))
}

// reloading says a reload began. MONOTONIC_USEC lets systemd match it to
// the reload it asked for (Type=notify-reload, systemd 253 and later);
// older versions ignore it.
func (n *notifier) reloading() error {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return n.send("RELOADING=1")
	}
	usec := ts.Nano() / int64(time.Microsecond)
	return n.send(fmt.Sprintf("RELOADING=1\nMONOTONIC_USEC=%d", usec))
}

// stopping says shutdown began: open responses are being drained.
func (n *notifier) stopping() error { return n.send("STOPPING=1\nSTATUS=draining connections") }

// oneLine keeps a STATUS= value from starting another assignment.
func oneLine(s string) string { return strings.ReplaceAll(s, "\n", " ") }

// lookupEnv is os.Getenv over an os.Environ-style slice; the last wins.
func lookupEnv(env []string, key string) string {
	v := ""
	for _, kv := range env {
		if k, val, ok := strings.Cut(kv, "="); ok && k == key {
			v = val
		}
	}
	return v
}
