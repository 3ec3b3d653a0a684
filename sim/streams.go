package sim

import (
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// The trace keeps RTP as streams, never per packet: a start event on the
// first packet, a stop event with the count when the stream goes quiet or its
// socket closes. Memory is one entry per live stream.

type streamKey struct{ src, dst netip.AddrPort }

type stream struct {
	packets   atomic.Uint64 // streamClosed set once its stop is counted
	last      atomic.Int64  // lab clock, ns
	started   time.Duration
	gone      atomic.Bool   // being reported stopped: caches must not count into it
	announced atomic.Bool   // its start is in the trace: only then can it stop
	out       chan struct{} // closed once its stop is in the trace and it left the table
	what      string        // "RTP stream" or "SRTP stream" (srtp.go), as its start said
}

// streamClosed marks a stream's count once its stop event has taken it: a
// packet added after that is not in the stop's count, so its sender counts
// it into a new stream (add). One atomic add per packet, as before, and
// every packet is in exactly one stream's stop (issue 12: stream lines
// contradicted themselves under load).
const streamClosed = 1 << 63

// add counts one packet sent at now; false when the stream's stop has
// already been counted, and the packet belongs to a new stream.
func (s *stream) add(now time.Duration) bool {
	if s.packets.Add(1)&streamClosed != 0 {
		return false
	}
	s.last.Store(int64(now))
	return true
}

type streamTable struct {
	mu sync.RWMutex
	m  map[streamKey]*stream
}

func (t *streamTable) init() { t.m = map[streamKey]*stream{} }

// count is on the RTP hot path: a read-locked lookup and two atomics. It
// returns the stream, which a socket may cache (PacketConn.countRTP). A new
// stream holds its first packet and its time before anyone can see it, and
// it is announced (its start in the trace) before a sweep may stop it: its
// stop never comes before its start, nor with 0 packets.
func (t *streamTable) count(n *Network, src, dst netip.AddrPort) *stream {
	now := n.Now()
	k := streamKey{src, dst}
	for {
		t.mu.RLock()
		s := t.m[k]
		t.mu.RUnlock()
		if s == nil {
			t.mu.Lock()
			if s = t.m[k]; s == nil {
				what, suite := n.streamWhat(k)
				s = &stream{started: now, out: make(chan struct{}), what: what}
				s.packets.Store(1)
				s.last.Store(int64(now))
				t.m[k] = s
				t.mu.Unlock()
				n.trace.Publish(Event{At: now, Kind: KindStreamStart, Proto: ProtoRTP, Src: src, Dst: dst,
					From: n.portName(src), To: n.portName(dst), Packets: 1,
					Summary: fmt.Sprintf("%s %s → %s started%s", what, src, n.portName(dst), suite)})
				s.announced.Store(true)
				return s
			}
			t.mu.Unlock()
		}
		if s.add(now) {
			return s
		}
		// Its stop took the count first: the packet starts the next
		// stream, once that stop is in the trace.
		<-s.out
	}
}

func (t *streamTable) stop(n *Network, k streamKey, s *stream, why string) {
	p := s.packets.Swap(streamClosed)
	what := s.what
	if what == "" {
		what = "RTP stream"
	}
	n.trace.Publish(Event{At: n.Now(), Kind: KindStreamStop, Proto: ProtoRTP, Src: k.src, Dst: k.dst,
		From: n.portName(k.src), To: n.portName(k.dst), Packets: p,
		Summary: fmt.Sprintf("%s %s → %s stopped (%s), %d packets", what, k.src, n.portName(k.dst), why, p)})
}

// removeWhere reports stopped the announced streams for which gone is
// true, and only then takes them out of the table: a sender's next packet
// to the same place waits for that (count), so the next stream's start
// follows this one's stop in the trace.
func (t *streamTable) removeWhere(n *Network, why string, gone func(streamKey, *stream) bool) {
	type entry struct {
		k streamKey
		s *stream
	}
	var out []entry
	t.mu.Lock()
	for k, s := range t.m {
		if s.announced.Load() && !s.gone.Load() && gone(k, s) {
			s.gone.Store(true)
			out = append(out, entry{k, s})
		}
	}
	t.mu.Unlock()
	if len(out) == 0 {
		return
	}
	for _, e := range out {
		t.stop(n, e.k, e.s, why)
	}
	t.mu.Lock()
	for _, e := range out {
		if t.m[e.k] == e.s {
			delete(t.m, e.k)
		}
	}
	t.mu.Unlock()
	for _, e := range out {
		close(e.s.out)
	}
}

// sweep reports streams idle for longer than idle.
func (t *streamTable) sweep(n *Network, idle time.Duration) {
	now := n.Now()
	t.removeWhere(n, "quiet", func(_ streamKey, s *stream) bool { return now-time.Duration(s.last.Load()) > idle })
}

// stopFrom reports the streams whose sender socket closed.
func (t *streamTable) stopFrom(n *Network, src netip.AddrPort) {
	t.removeWhere(n, "socket closed", func(k streamKey, _ *stream) bool { return k.src == src })
}

func (t *streamTable) stopAll(n *Network) {
	t.removeWhere(n, "lab stopped", func(streamKey, *stream) bool { return true })
}

func (n *Network) sweepStreams() {
	defer n.done.Done()
	tick := n.clock.NewTicker(n.cfg.StreamIdle / 4)
	defer tick.Stop()
	pcapFailed := false
	prev := n.Now()
	for {
		select {
		case <-n.stop:
			return
		case <-tick.C:
			now := n.Now()
			n.sweepAfter(now - prev)
			prev = now
			// The pcap's writer flushes on its own (PcapFlushEvery); the
			// sweep says when it failed or fell behind, so a capture with
			// holes never passes for a whole one.
			if err := n.pcap.Err(); err != nil && !pcapFailed {
				pcapFailed = true // the error is sticky: say it once
				n.Errorf("pcap", netip.AddrPort{}, "%v", err)
			}
			n.reportPcapDrops()
		}
	}
}

// streamRef is a socket's cached stream towards one destination.
type streamRef struct {
	dst netip.AddrPort
	s   *stream
}

// streamCacheSize is how many destinations a socket remembers: a phone's
// RTP socket sends to three (the far end, the recorder's tx and rx ports).
const streamCacheSize = 4

// countRTP counts one RTP datagram this socket sends to dst. A stream the
// socket sent to before is found in its own small cache, without the
// table's lock or its map: the table lookup was sim's largest per-packet
// cost in a 3,000-stream reclab bench. A stream the table has since
// removed (quiet, or its socket closed) is looked up afresh, so it starts
// anew exactly as without the cache.
func (c *PacketConn) countRTP(dst netip.AddrPort) {
	n := c.node.net
	for i := range c.streams {
		if r := c.streams[i].Load(); r != nil && r.dst == dst && !r.s.gone.Load() && r.s.add(n.Now()) {
			return
		}
	}
	s := n.streams.count(n, c.local, dst)
	c.streams[c.streamNext.Add(1)%streamCacheSize].Store(&streamRef{dst: dst, s: s})
}

// sweepAfter is one sweep, gap after the one before. A gap longer than the
// idle time means the sweeper itself did not run: the host stalled (a
// loaded machine, a stopped process), every sender with it, so the streams
// look quiet only because nothing ran. That is said as a stall with its
// length, and no stream is reported stopped for it (issue 12: a host stall
// showed as every stream stopping, then starting again); a stream that
// really ended meanwhile is reported by the next sweep.
func (n *Network) sweepAfter(gap time.Duration) {
	if gap > n.cfg.StreamIdle {
		n.PublishState("lab", HostStall{Length: gap})
		return
	}
	n.streams.sweep(n, n.cfg.StreamIdle)
}

// HostStall is a time the lab ran nothing (sweepAfter): the RTP streams
// went quiet over it and are not reported stopped.
type HostStall struct {
	Length time.Duration `json:"length"`
}

func (h HostStall) String() string {
	return fmt.Sprintf("host stall: the lab ran nothing for %s; RTP streams quiet over it are not counted as stopped", h.Length.Round(time.Millisecond))
}

// reportPcapDrops says, as an error on the trace, how many records the
// capture lost since the last report (the sweep, and Close for the end).
func (n *Network) reportPcapDrops() {
	d := n.pcap.Dropped()
	if prev := n.pcapReported.Swap(d); d > prev {
		n.Errorf("pcap", netip.AddrPort{}, "%d packets not captured (%d in all): the capture's ring of %d records was full, its writer fell behind",
			d-prev, d, PcapQueueRecords)
	}
}
