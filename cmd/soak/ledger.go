package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
)

// ledger remembers every write nora acknowledged, with a check that it
// is still served intact, and the image pushes not acknowledged yet.
type ledger struct {
	mu      sync.Mutex
	acks    []ack
	unacked map[string]Image // pushes begun, by ref
	checked int              // acks checked by the last Verify
}

type ack struct {
	what  string
	check func(context.Context) error
}

func newLedger() *ledger { return &ledger{unacked: map[string]Image{}} }

func (l *ledger) add(what string, check func(context.Context) error) {
	l.mu.Lock()
	l.acks = append(l.acks, ack{what, check})
	l.mu.Unlock()
}

func (l *ledger) pending(im Image) {
	l.mu.Lock()
	l.unacked[im.Ref] = im
	l.mu.Unlock()
}

func (l *ledger) pushed(c *client, im Image) {
	l.mu.Lock()
	delete(l.unacked, im.Ref)
	l.mu.Unlock()
	l.add("image "+im.Ref, func(ctx context.Context) error { return c.pullImage(ctx, im) })
}

// olderChecks is how many writes acknowledged before the previous
// Verify a partial one checks again (at random): a long soak's ledger
// grows past what can be checked between two kills.
const olderChecks = 200

// Verify checks, after a restart, the acknowledged writes (served
// intact) and every push still unacknowledged (its manifest complete or
// absent): all of them, or those acknowledged since the previous Verify
// and a random olderChecks of the rest. It returns how many it checked
// and what failed.
func (g *Generator) Verify(ctx context.Context, all bool) (int, []error) {
	l := g.ledger
	l.mu.Lock()
	checks := append([]ack(nil), l.acks[l.checked:]...)
	if old := l.acks[:l.checked]; all || len(old) <= olderChecks {
		checks = append(checks, old...)
	} else {
		for _, i := range rand.Perm(len(old))[:olderChecks] {
			checks = append(checks, old[i])
		}
	}
	l.checked = len(l.acks)
	for _, im := range l.unacked {
		c := g.newClient(-2)
		checks = append(checks, ack{"unacknowledged push " + im.Ref, func(ctx context.Context) error {
			return c.manifestCompleteOrAbsent(ctx, im)
		}})
	}
	l.mu.Unlock()
	work := make(chan ack)
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for a := range work {
				if err := g.retryOp(ctx, a.check); err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("%s: %w", a.what, err))
					mu.Unlock()
				}
			}
		}()
	}
	for _, a := range checks {
		work <- a
	}
	close(work)
	wg.Wait()
	return len(checks), errs
}
