package disk

import (
	"fmt"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// syncRounds is the group commit of the disk store. A durable commit needs
// two flushes: the temp file's bytes before its rename, and the rename
// after it. A sync is a cache flush of the device, which costs the same
// for one object as for a hundred, and small objects (packuments, refs,
// tarballs of a cold npm install) arrive by the hundred. So a commit waits
// for a round: one syncfs(2) of the store's filesystem, begun after the
// commit asked for it, shared with every commit that asked meanwhile.
// syncfs writes back the filesystem's dirty data and commits its journal,
// so a round makes durable whatever its commits wrote or renamed before
// it began: the same promise as an fsync of each file and each directory,
// paid once per round instead of twice per object.
//
// The rounds run on a goroutine that lives while they keep coming: one per
// store at most, none when idle.
type syncRounds struct {
	dir string // a directory on the store's filesystem

	mu      sync.Mutex
	next    *syncRound // collecting; nil when nobody waits
	running bool
}

type syncRound struct {
	err  error // set before done
	done chan struct{}
}

// sync returns once a syncfs that began after this call has ended.
func (g *syncRounds) sync() error {
	g.mu.Lock()
	if g.next == nil {
		g.next = &syncRound{done: make(chan struct{})}
	}
	r := g.next
	if !g.running {
		g.running = true
		go g.run()
	}
	g.mu.Unlock()
	<-r.done
	return r.err
}

// run syncs rounds until none is waiting.
func (g *syncRounds) run() {
	g.mu.Lock()
	for g.next != nil {
		r := g.next
		g.next = nil
		g.mu.Unlock()
		r.err = syncFS(g.dir)
		close(r.done)
		g.mu.Lock()
	}
	g.running = false
	g.mu.Unlock()
}

// syncFS flushes the filesystem that holds dir. Since Linux 5.8 syncfs
// reports a writeback error, as fsync does.
func syncFS(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.Syncfs(int(f.Fd())); err != nil {
		return fmt.Errorf("cannot sync the filesystem of %s: %w", dir, err)
	}
	return nil
}
