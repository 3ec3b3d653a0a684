package sim

import (
	"net"
	"syscall"
)

// setReadBuffer sets c's receive buffer to n bytes. The kernel caps
// SO_RCVBUF at net.core.rmem_max (208 KiB on a stock machine), so a
// process with CAP_NET_ADMIN (root, or root in the test's user namespace)
// sets it with SO_RCVBUFFORCE, which ignores the cap; others get what
// rmem_max allows.
func setReadBuffer(c *net.UDPConn, n int) error {
	raw, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var forced error
	if err := raw.Control(func(fd uintptr) {
		forced = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUFFORCE, n)
	}); err != nil {
		return err
	}
	if forced == nil {
		return nil
	}
	return c.SetReadBuffer(n)
}

// readBuffer is c's receive buffer as the kernel reports it (twice what
// was set: it counts its bookkeeping, socket(7)).
func readBuffer(c *net.UDPConn) (int, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	var n int
	var gerr error
	if err := raw.Control(func(fd uintptr) {
		n, gerr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF)
	}); err != nil {
		return 0, err
	}
	return n, gerr
}
