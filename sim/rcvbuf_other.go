//go:build !linux

package sim

import "net"

// setReadBuffer sets c's receive buffer to n bytes, as far as the system
// allows.
func setReadBuffer(c *net.UDPConn, n int) error { return c.SetReadBuffer(n) }
