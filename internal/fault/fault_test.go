package fault

import (
	"errors"
	"fmt"
	"io"
	"testing"
)

func TestKindOf(t *testing.T) {
	f := func(err error, want Kind, msg string) {
		t.Helper()
		if got := KindOf(err); got != want {
			t.Errorf("KindOf(%v) = %v, want %v", err, got, want)
		}
		if got := Message(err); got != msg {
			t.Errorf("Message(%v) = %q, want %q", err, got, msg)
		}
		if want != Internal && !errors.Is(err, want) {
			t.Errorf("errors.Is(%v, %v) = false", err, want)
		}
	}
	sentinel := New(NotFound, "object not found")
	f(sentinel, NotFound, "object not found")
	f(fmt.Errorf("cannot open blob: %w", sentinel), NotFound, "object not found")
	f(Wrap(Unavailable, io.ErrUnexpectedEOF, "upstream stopped sending"), Unavailable, "upstream stopped sending")
	f(Conflict, Conflict, "conflict")
	f(fmt.Errorf("cannot publish: %w", Conflict), Conflict, "conflict")
	f(io.EOF, Internal, "internal error")
	// The outermost classification wins: a hosted refusal that wraps a
	// store error is the refusal.
	f(Wrap(Invalid, sentinel, "bad name"), Invalid, "bad name")
	if !errors.Is(Wrap(Invalid, sentinel, "bad name"), sentinel) {
		t.Error("the cause is lost")
	}
	if errors.Is(New(NotFound, "x"), Conflict) {
		t.Error("a NotFound is a Conflict")
	}
}

func TestRetryAfter(t *testing.T) {
	err := fmt.Errorf("cannot fetch: %w", &Error{Kind: RateLimited, Msg: "slow down", RetryAfter: 30})
	if got := RetryAfter(err); got != 30 {
		t.Fatalf("RetryAfter = %d, want 30", got)
	}
	if got := RetryAfter(io.EOF); got != 0 {
		t.Fatalf("RetryAfter(io.EOF) = %d, want 0", got)
	}
}
