package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The anchor of `reclab bench --vs-sipp` (issue 14 item 4): SIPp's own
// built-in scenarios, a UAC (INVITE, ACK, BYE) against a UAS (180, 200,
// 200 to the BYE), on loopback beside the lab's addresses in the same
// command, so the lab's recording-session set-up rate is read against
// what a dedicated SIP tool does on the same machine at the same moment.

// sippResult is one SIPp run.
type sippResult struct {
	calls, ok, failed int
	took              time.Duration
	version           string
}

func (s sippResult) rate() float64 {
	if s.took <= 0 {
		return 0
	}
	return float64(s.ok) / s.took.Seconds()
}

// sippAddrs are the UAS's and the UAC's addresses: 127.N.8.1 and .8.2
// under --net, clear of the lab's PBX, recorder, phones and rogue host.
func sippAddrs(c benchConfig) (uas, uac netip.Addr, err error) {
	p, err := parseNet(c.net)
	if err != nil {
		return uas, uac, err
	}
	a := p.pbx.As4()
	return netip.AddrFrom4([4]byte{a[0], a[1], 8, 1}), netip.AddrFrom4([4]byte{a[0], a[1], 8, 2}), nil
}

// compareSIPp runs SIPp and prints its figures and the lab's set-up rate
// over them. No sipp on PATH is said, not an error.
func compareSIPp(ctx context.Context, c benchConfig, lab *benchResult, w io.Writer) error {
	sipp, err := exec.LookPath("sipp")
	if err != nil {
		fmt.Fprintf(w, "  SIPp                 not run: sipp is not on PATH (Debian and Ubuntu: apt-get install sip-tester); no set-up / SIPp ratio\n")
		return nil
	}
	s, err := runSIPp(ctx, sipp, c)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "  SIPp uac → uas       %d of %d calls in %s at -r %d: %.0f calls/s, %d failed (%s)\n",
		s.ok, s.calls, s.took.Round(time.Millisecond), c.sippRate, s.rate(), s.failed, s.version)
	labRate := lab.setup.rate()
	if s.rate() > 0 && labRate > 0 {
		fmt.Fprintf(w, "  set-up / SIPp        %.3f (the lab's %.0f recording sessions/s over SIPp's %.0f calls/s; target ≥ 1.0)\n",
			labRate/s.rate(), labRate, s.rate())
	}
	return nil
}

// sippBuffer is the sockets' buffer SIPp is given (-buff_size): with the
// default a 20,000-call run at 5,000/s loses datagrams and retransmits.
const sippBuffer = "8388608"

// runSIPp starts sipp -sn uas, waits until it holds its port, runs sipp
// -sn uac for c.sippCalls calls at c.sippRate and times it, then stops the
// UAS.
func runSIPp(ctx context.Context, sipp string, c benchConfig) (*sippResult, error) {
	uasIP, uacIP, err := sippAddrs(c)
	if err != nil {
		return nil, err
	}
	const port = 5060
	version := "SIPp"
	if out, err := exec.CommandContext(ctx, sipp, "-v").CombinedOutput(); err == nil || len(out) > 0 {
		if m := regexp.MustCompile(`SIPp v[^\s-]+`).Find(out); m != nil {
			version = string(m)
		}
	}
	uas := exec.CommandContext(ctx, sipp, "-sn", "uas", "-i", uasIP.String(), "-p", strconv.Itoa(port),
		"-buff_size", sippBuffer, "-nostdin")
	uas.Stdout, uas.Stderr = io.Discard, io.Discard
	if err := uas.Start(); err != nil {
		return nil, fmt.Errorf("start the UAS: %w", err)
	}
	defer func() {
		uas.Process.Kill()
		uas.Wait()
	}()
	if err := waitUDPHeld(ctx, netip.AddrPortFrom(uasIP, port), 10*time.Second); err != nil {
		return nil, fmt.Errorf("the UAS: %w", err)
	}
	var out bytes.Buffer
	uac := exec.CommandContext(ctx, sipp, "-sn", "uac", netip.AddrPortFrom(uasIP, port).String(),
		"-i", uacIP.String(), "-p", strconv.Itoa(port),
		"-r", strconv.Itoa(c.sippRate), "-m", strconv.Itoa(c.sippCalls), "-l", "1000",
		"-buff_size", sippBuffer, "-nostdin")
	uac.Stdout, uac.Stderr = &out, &out
	start := time.Now()
	err = uac.Run()
	took := time.Since(start)
	// SIPp exits 1 when some calls failed: the counts say how many.
	var exit *exec.ExitError
	if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 1) {
		return nil, fmt.Errorf("the UAC: %w\n%s", err, lastLines(out.String(), 20))
	}
	s := &sippResult{calls: c.sippCalls, took: took, version: version}
	var okOK, failOK bool
	s.ok, okOK = sippCounter(out.String(), "Successful call")
	s.failed, failOK = sippCounter(out.String(), "Failed call")
	if !okOK || !failOK {
		return nil, fmt.Errorf("the UAC's statistics screen not found in its output:\n%s", lastLines(out.String(), 20))
	}
	return s, nil
}

// sippCounter reads a cumulative counter of SIPp's last statistics
// screen: "  Successful call        |        0                  |    20000".
func sippCounter(out, name string) (int, bool) {
	re := regexp.MustCompile(regexp.QuoteMeta(name) + `\s*\|\s*\d+\s*\|\s*(\d+)`)
	m := re.FindAllStringSubmatch(out, -1)
	if len(m) == 0 {
		return 0, false
	}
	n, err := strconv.Atoi(m[len(m)-1][1])
	return n, err == nil
}

// waitUDPHeld returns once something holds ap (binding it fails with
// EADDRINUSE): the UAS is listening.
func waitUDPHeld(ctx context.Context, ap netip.AddrPort, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(ap))
		if err != nil && errors.Is(err, syscall.EADDRINUSE) {
			return nil
		}
		if c != nil {
			c.Close()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not bound after %s", ap, limit)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// lastLines is the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
