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

// namespaced is the command that runs this binary again in a new network
// namespace, after a probe showed that one can be made here.
func namespaced() (*exec.Cmd, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd, err := inNamespace(self, os.Args[1:])
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
