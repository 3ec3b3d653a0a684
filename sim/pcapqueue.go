package sim

import (
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// The pcap's ring (issue 14 item 2): senders copy a packet and its
// addresses into a slot and go on; the writer goroutine (PcapWriter.run)
// takes the slots in order and does the slow part. It is a bounded
// multi-producer queue in the manner of Dmitry Vyukov's: each slot carries
// a sequence number that says whose turn it is, a producer claims the next
// position with one compare-and-swap, and no lock is taken on either side.

// pcapOp is what a record asks the writer to do.
type pcapOp uint8

const (
	pcapOpUDP pcapOp = iota
	pcapOpUDPArrived
	pcapOpTCPOpen
	pcapOpTCPData
	pcapOpTCPClose
	pcapOpTCPReset
	pcapOpNote
	pcapOpAddNode
	pcapOpFlush
	pcapOpClose
)

// pcapInline is the payload a slot holds in place: an RTP packet of G.711
// at 20 ms is 172 bytes, with an SRTP tag 182.
const pcapInline = 256

// pcapRecord is one slot of the ring.
type pcapRecord struct {
	seq      atomic.Uint64 // pos+1: filled for the writer; pos+len: free for the producer of pos+len
	op       pcapOp
	flag     bool // note: an error; TCP data: more of the same write follows
	ts       time.Time
	src, dst netip.AddrPort
	n        int     // payload length
	inline   []byte  // this slot's own storage, cap pcapInline
	big      *[]byte // a pooled buffer for a larger payload
	node     string  // note: the node
	text     string  // note: the text; AddNode: the name
	reply    chan error
}

func (r *pcapRecord) payload() []byte {
	if r.big != nil {
		return (*r.big)[:r.n]
	}
	return r.inline[:r.n]
}

// pcapBig lends buffers for payloads longer than a slot holds (SIP, TCP
// writes): the small class fits a SIP message, the large one a TCP chunk
// or the largest datagram.
var pcapBig = [2]struct {
	size int
	pool sync.Pool
}{{size: 4096}, {size: 65536}}

func pcapBorrow(n int) *[]byte {
	for i := range pcapBig {
		if c := &pcapBig[i]; n <= c.size {
			if b, ok := c.pool.Get().(*[]byte); ok {
				return b
			}
			b := make([]byte, c.size)
			return &b
		}
	}
	b := make([]byte, n) // cut to fit by the writer; not pooled
	return &b
}

func pcapGiveBack(b *[]byte) {
	for i := range pcapBig {
		if c := &pcapBig[i]; len(*b) == c.size {
			c.pool.Put(b)
			return
		}
	}
}

// pcapQueue is the ring. tail is the producers' next position, head the
// writer's; each has a cache line of its own.
type pcapQueue struct {
	_      [64]byte
	tail   atomic.Uint64
	_      [56]byte
	head   atomic.Uint64 // written by the writer only; read by producers to judge the depth
	_      [56]byte
	slots  []pcapRecord
	mask   uint64
	wakeAt uint64 // a producer wakes a sleeping writer at this depth
}

func (q *pcapQueue) init(size int) {
	q.slots = make([]pcapRecord, size)
	q.mask = uint64(size - 1)
	// Early: under load a woken goroutine waits its turn behind thousands
	// of runnable ones, and the ring must not fill meanwhile (a 500-call
	// bench dropped 5% of its packets waking the writer at 1/8 full).
	q.wakeAt = uint64(min(size/8, 512))
	store := make([]byte, size*pcapInline)
	for i := range q.slots {
		q.slots[i].seq.Store(uint64(i))
		q.slots[i].inline = store[i*pcapInline : i*pcapInline : (i+1)*pcapInline]
	}
}

// claim takes the next free slot, or reports the ring full (or closed).
func (p *PcapWriter) claim() (*pcapRecord, uint64, bool) {
	if p == nil || p.closing.Load() {
		return nil, 0, false
	}
	q := &p.q
	pos := q.tail.Load()
	for {
		r := &q.slots[pos&q.mask]
		switch d := int64(r.seq.Load() - pos); {
		case d == 0:
			if q.tail.CompareAndSwap(pos, pos+1) {
				return r, pos, true
			}
			pos = q.tail.Load()
		case d < 0: // the slot still holds the record of a lap ago
			p.dropped.Add(1)
			return nil, 0, false
		default: // another producer took pos
			pos = q.tail.Load()
		}
	}
}

// claimWait is claim for the records that must not be lost (an
// interface, a flush, the close): it waits for the writer to make room.
func (p *PcapWriter) claimWait() (*pcapRecord, uint64, bool) {
	if p == nil {
		return nil, 0, false
	}
	for {
		if p.closing.Load() {
			return nil, 0, false
		}
		q := &p.q
		pos := q.tail.Load()
		r := &q.slots[pos&q.mask]
		switch d := int64(r.seq.Load() - pos); {
		case d == 0:
			if q.tail.CompareAndSwap(pos, pos+1) {
				return r, pos, true
			}
		case d < 0:
			p.wakeWriter()
			select {
			case <-p.done:
				return nil, 0, false
			default:
			}
			runtime.Gosched()
		}
	}
}

// publish hands a filled slot to the writer, waking it when the ring is
// deep enough to be worth a pass, or for a record someone waits on.
func (p *PcapWriter) publish(r *pcapRecord, pos uint64) {
	urgent := r.op >= pcapOpFlush
	r.seq.Store(pos + 1)
	if p.sleeping.Load() && (urgent || pos-p.q.head.Load() >= p.q.wakeAt) {
		p.wakeWriter()
	}
}

func (p *PcapWriter) wakeWriter() {
	if p.sleeping.CompareAndSwap(true, false) {
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
}

// put queues one packet record: its bytes are copied, so the caller may
// reuse b at once. It does not allocate for a payload a slot holds.
func (p *PcapWriter) put(op pcapOp, ts time.Time, src, dst netip.AddrPort, b []byte, more bool) {
	r, pos, ok := p.claim()
	if !ok {
		return
	}
	r.op, r.ts, r.src, r.dst, r.flag, r.n = op, ts, src, dst, more, len(b)
	if len(b) <= pcapInline {
		copy(r.inline[:len(b)], b)
	} else {
		r.big = pcapBorrow(len(b))
		copy(*r.big, b)
	}
	p.publish(r, pos)
}

// pcapWriterBatch is how many records the writer takes between looks at
// its flush ticker.
const pcapWriterBatch = 512

// run is the writer goroutine: it takes the records in ring order, and
// when the ring is empty sleeps until a producer wakes it or the flush
// ticker fires. The records it writes are stamped in time order (stamp).
func (p *PcapWriter) run() {
	defer close(p.done)
	defer p.tick.Stop()
	q := &p.q
	for {
		for i := 0; ; i++ {
			head := q.head.Load()
			r := &q.slots[head&q.mask]
			if r.seq.Load() != head+1 {
				break
			}
			stop := p.handle(r)
			r.big, r.reply, r.node, r.text = nil, nil, "", ""
			r.seq.Store(head + uint64(len(q.slots)))
			q.head.Store(head + 1)
			p.written.Add(1)
			if stop {
				return
			}
			if i%pcapWriterBatch == pcapWriterBatch-1 {
				select {
				case <-p.tick.C:
					p.pcapFlush()
				default:
				}
			}
		}
		p.sleeping.Store(true)
		// A record published after the look above either is seen here or
		// its producer sees sleeping and wakes us.
		head := q.head.Load()
		if q.slots[head&q.mask].seq.Load() == head+1 {
			p.sleeping.Store(false)
			continue
		}
		select {
		case <-p.wake:
		case <-p.tick.C:
			p.pcapFlush()
		}
		p.sleeping.Store(false)
	}
}

// handle performs one record; it reports true for the close.
func (p *PcapWriter) handle(r *pcapRecord) bool {
	switch r.op {
	case pcapOpUDP, pcapOpUDPArrived:
		p.writeUDP(r.ts, r.src, r.dst, r.payload(), r.op == pcapOpUDPArrived)
	case pcapOpTCPOpen:
		p.writeTCPOpen(r.ts, r.src, r.dst)
	case pcapOpTCPData:
		p.writeTCPData(r.ts, r.src, r.dst, r.payload(), r.flag)
	case pcapOpTCPClose:
		p.writeTCPClose(r.ts, r.src, r.dst)
	case pcapOpTCPReset:
		p.writeTCPReset(r.ts, r.src, r.dst)
	case pcapOpNote:
		p.writeNote(r.ts, r.node, r.text, r.flag)
	case pcapOpAddNode:
		p.writeAddNode(r.text, r.src.Addr())
	case pcapOpFlush:
		p.pcapFlush()
		r.reply <- p.Err()
	case pcapOpClose:
		p.pcapFlush()
		p.flows = nil
		return true
	}
	if r.big != nil {
		pcapGiveBack(r.big)
	}
	return false
}
