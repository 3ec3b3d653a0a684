package labtest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/cockroachdb/datadriven"
)

// insideEnv marks a test process that already runs in its own namespace.
const insideEnv = "RECLAB_TEST_NETNS"

// Main runs the package's tests in a private network namespace whose
// loopback is up, then exits with their status. It re-runs the test binary
// with the same arguments under `unshare -n` (as root) or `unshare -rn` (a
// user namespace, for anyone else). Where no namespace can be had (no
// unshare or ip, or the kernel refuses), it says so on stderr and runs the
// tests in place, on the machine's loopback, where they may meet another
// lab's addresses.
func Main(m *testing.M) {
	if os.Getenv(insideEnv) != "" {
		os.Exit(m.Run())
	}
	cmd, err := namespaced()
	if err != nil {
		fmt.Fprintf(os.Stderr, "labtest: no private network namespace (%v); tests run on the machine's loopback\n", err)
		os.Exit(m.Run())
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	err = cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		os.Exit(0)
	case errors.As(err, &exit):
		os.Exit(exit.ExitCode())
	default:
		fmt.Fprintf(os.Stderr, "labtest: %v\n", err)
		os.Exit(2)
	}
}

// MainBeside is Main for a package whose test named beside runs its labs
// in child namespaces of its own (Apart) and takes long: that test and
// the rest of the package run at once, each half in a namespace of its
// own, so the package takes as long as the longer half, not the sum
// (issue 10: .ci/run within 2 minutes). Their outputs follow each other.
// With -test.run, -test.skip, a benchmark, a fuzz target, a listing or a
// profile the package runs in one namespace, as Main does.
func MainBeside(m *testing.M, beside string) {
	if os.Getenv(insideEnv) != "" || !splittable(os.Args[1:]) {
		Main(m)
		return
	}
	pattern := "^" + beside + "$"
	halves := [][]string{{"-test.run=" + pattern}, {"-test.skip=" + pattern}}
	var outs [2]strings.Builder
	var errs [2]error
	var wg sync.WaitGroup
	for i, extra := range halves {
		cmd, err := namespaced(extra...)
		if err != nil {
			fmt.Fprintf(os.Stderr, "labtest: no private network namespace (%v); tests run on the machine's loopback\n", err)
			os.Exit(m.Run())
		}
		cmd.Stdout, cmd.Stderr = &outs[i], &outs[i]
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = cmd.Run()
		}()
	}
	wg.Wait()
	code := 0
	for i := range halves {
		os.Stdout.WriteString(outs[i].String())
		var exit *exec.ExitError
		switch {
		case errs[i] == nil:
		case errors.As(errs[i], &exit):
			code = max(code, exit.ExitCode())
		default:
			fmt.Fprintf(os.Stderr, "labtest: %v\n", errs[i])
			code = 2
		}
	}
	os.Exit(code)
}

// splittable reports whether the test binary's arguments leave the choice
// of tests and the outputs to us.
func splittable(args []string) bool {
	for _, a := range args {
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		switch strings.TrimPrefix(name, "test.") {
		case "run", "skip", "bench", "fuzz", "list", "coverprofile", "cpuprofile", "memprofile",
			"blockprofile", "mutexprofile", "trace", "outputdir", "json":
			return false
		}
	}
	return true
}

// namespaced is the command that runs this binary again in a new network
// namespace, after a probe showed that one can be made here, with extra
// arguments after the given ones.
func namespaced(extra ...string) (*exec.Cmd, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd, err := inNamespace(self, append(append([]string{}, os.Args[1:]...), extra...))
	if err != nil {
		return nil, err
	}
	cmd.Env = append(os.Environ(), insideEnv+"=1")
	return cmd, nil
}

var probe struct {
	once    sync.Once
	unshare string
	flags   []string
	up      string
	err     error
}

// inNamespace is the command that runs prog with args in a new network
// namespace whose loopback is up. The first call probes that one can be
// made here (unshare and ip exist, the kernel lets us).
func inNamespace(prog string, args []string) (*exec.Cmd, error) {
	probe.once.Do(func() {
		unshare, err := exec.LookPath("unshare")
		if err != nil {
			probe.err = err
			return
		}
		ip, err := exec.LookPath("ip")
		if err != nil {
			probe.err = err
			return
		}
		flags := []string{"-n"}
		if os.Geteuid() != 0 {
			flags = []string{"-r", "-n"}
		}
		up := ip + ` link set lo up && exec "$0" "$@"`
		c := exec.Command(unshare, append(flags, "--", "sh", "-c", up, "true")...)
		if out, err := c.CombinedOutput(); err != nil {
			probe.err = fmt.Errorf("%s %v: %v: %s", unshare, flags, err, out)
			return
		}
		probe.unshare, probe.flags, probe.up = unshare, flags, up
	})
	if probe.err != nil {
		return nil, probe.err
	}
	full := append(append(append([]string{}, probe.flags...), "--", "sh", "-c", probe.up, prog), args...)
	return exec.Command(probe.unshare, full...), nil
}

// Arg is a datadriven command's argument key, its values joined by spaces
// ("" when absent): `power-on call-id=a@1`, `refused status=(403 Forbidden)`.
func Arg(d *datadriven.TestData, key string) string {
	for _, a := range d.CmdArgs {
		if a.Key == key {
			return strings.Join(a.Vals, " ")
		}
	}
	return ""
}
