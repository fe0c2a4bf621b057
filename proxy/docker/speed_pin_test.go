package docker_test

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"

	"nora/proxy/proxytest"
)

// pinServers runs this process (nora and the floor) with GOMAXPROCS 1 and
// nginx's processes on CPU 0 until b ends, leaving CPU 1 to the generator.
func pinServers(b *testing.B, ng *proxytest.Nginx) {
	if runtime.NumCPU() < 2 {
		b.Skip("pinning needs 2 CPUs")
	}
	all := make([]int, runtime.NumCPU())
	for i := range all {
		all[i] = i
	}
	prev := runtime.GOMAXPROCS(1)
	pids := append(nginxPids(b, ng), os.Getpid())
	b.Cleanup(func() {
		runtime.GOMAXPROCS(prev)
		for _, p := range pids {
			if err := pinTasks(p, all...); err != nil {
				b.Error(err)
			}
		}
	})
	for _, p := range pids {
		if err := pinTasks(p, 0); err != nil {
			b.Fatal(err)
		}
	}
}

// pinTasks sets the CPUs of every thread of process pid (threads it
// starts later inherit them).
func pinTasks(pid int, cpus ...int) error {
	var set unix.CPUSet
	for _, c := range cpus {
		set.Set(c)
	}
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return err
	}
	for _, t := range tasks {
		tid, _ := strconv.Atoi(t.Name())
		if err := unix.SchedSetaffinity(tid, &set); err != nil && !errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("pin thread %d of %d: %w", tid, pid, err)
		}
	}
	return nil
}
