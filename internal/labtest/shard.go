package labtest

import (
	"bytes"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// shardEnv marks a child process of Apart: it runs its one subtest itself.
const shardEnv = "RECLAB_TEST_APART"

// apartEnv bounds how many child processes Apart runs at once.
const apartEnv = "RECLAB_TEST_PROCS"

// Apart runs run(t, name) as the subtest name of t for every name, each in
// a child process of the test binary with a network namespace of its own,
// up to procs at a time (RECLAB_TEST_PROCS overrides it). Labs that share
// the lab's address plan and sipgo's process-wide timers run side by side
// this way: most of a story's time is spent waiting on its timers, not the
// CPU. A -run pattern selects the subtests as usual; a failing subtest
// reports what its child printed. Where no namespace can be had, or procs
// is 1, the subtests run here one after another.
func Apart(t *testing.T, names []string, procs int, run func(t *testing.T, name string)) {
	t.Helper()
	if s := os.Getenv(apartEnv); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n > 0 {
			procs = n
		}
	}
	self, err := os.Executable()
	if err == nil {
		_, err = inNamespace(self, nil)
	}
	if os.Getenv(shardEnv) != "" || procs <= 1 || err != nil {
		for _, name := range names {
			t.Run(name, func(t *testing.T) { run(t, name) })
		}
		return
	}
	// Every selected subtest waits, in parallel, for its child; the
	// children start once the loop below has seen which were selected.
	type result struct {
		out  []byte
		err  error
		done chan struct{}
	}
	var selected []string
	results := map[string]*result{}
	for _, name := range names {
		r := &result{done: make(chan struct{})}
		results[name] = r
		t.Run(name, func(t *testing.T) {
			selected = append(selected, name)
			t.Parallel()
			<-r.done
			if r.err != nil {
				t.Errorf("in a process of its own (%v):\n%s", r.err, r.out)
			} else if testing.Verbose() {
				t.Logf("in a process of its own:\n%s", r.out)
			}
		})
	}
	args := childArgs(os.Args[1:])
	parent := t.Name()
	go func() {
		slots := make(chan struct{}, procs)
		var wg sync.WaitGroup
		for _, name := range selected {
			wg.Add(1)
			slots <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-slots }()
				r := results[name]
				pattern := "-test.run=^" + regexp.QuoteMeta(parent) + "$/^" + regexp.QuoteMeta(name) + "$"
				c, _ := inNamespace(self, append(append([]string{}, args...), pattern, "-test.v=true"))
				c.Env = append(os.Environ(), insideEnv+"=1", shardEnv+"=1")
				r.out, r.err = c.CombinedOutput()
				if r.err == nil && !bytes.Contains(r.out, []byte("--- PASS: "+parent+"/"+name+" ")) {
					r.err = fmt.Errorf("the child did not run %s/%s", parent, name)
				}
				close(r.done)
			}()
		}
		wg.Wait()
	}()
}

// childArgs are the test binary's arguments for a child: the same flags
// (the package's own, -test.timeout, -test.count) without the selection
// and without the files only the parent may write.
func childArgs(args []string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		switch name {
		case "test.run", "test.v", "test.testlogfile", "test.coverprofile", "test.cpuprofile", "test.memprofile",
			"test.blockprofile", "test.mutexprofile", "test.trace", "test.json":
			if !hasValue && name != "test.v" && name != "test.json" && i+1 < len(args) {
				i++ // its value is the next argument
			}
			continue
		}
		out = append(out, a)
	}
	return out
}
