package sim

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
)

// Proto is the protocol of a traced message.
type Proto uint8

const (
	ProtoOther Proto = iota
	ProtoSIP
	ProtoRTP
	ProtoCSTA
	ProtoHTTP
	ProtoLab // not a packet: a state change or narration from a node
	ProtoRAS // H.225.0 RAS, UDP 1719: the gatekeeper and its H.323 phones
)

var protoNames = [...]string{"OTHER", "SIP", "RTP", "CSTA", "HTTP", "LAB", "RAS"}

func (p Proto) String() string {
	if int(p) < len(protoNames) {
		return protoNames[p]
	}
	return fmt.Sprintf("proto(%d)", p)
}

// ParseProto turns a protocol name (any case) into a Proto.
func ParseProto(s string) (Proto, error) {
	for i, n := range protoNames {
		if strings.EqualFold(s, n) {
			return Proto(i), nil
		}
	}
	return 0, fmt.Errorf("sim: unknown protocol %q; valid: %s", s, strings.Join(protoNames[:], ", "))
}

// Kind says what an Event is.
type Kind uint8

const (
	KindMessage     Kind = iota // a signalling message (SIP, CSTA, HTTP) was sent
	KindStreamStart             // the first RTP packet of a stream
	KindStreamStop              // an RTP stream went quiet or its socket closed
	KindNote                    // a node's state change, in words
	KindError                   // malformed input or a failed action; the node goes on
	KindDropped                 // a packet the network impairment dropped
	KindState                   // a node's typed state (Event.State); a note says it in words
)

var kindNames = [...]string{"message", "stream-start", "stream-stop", "note", "error", "dropped", "state"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", k)
}

// Event is one line of the lab's trace.
type Event struct {
	Seq     uint64
	At      time.Duration // since the lab started, from the lab clock
	Kind    Kind
	Proto   Proto
	Src     netip.AddrPort // zero for notes
	Dst     netip.AddrPort
	From    string // node names; "" when unknown
	To      string
	Summary string
	Bytes   []byte // the message as sent (signalling only; RTP is never kept per packet)
	Packets uint64 // RTP: packets in the stream so far (stream-stop: all of them)
	// Set by an impairment (impair.go) on a message it let through:
	Delayed   time.Duration // how long the network held it; At is its delivery time
	Duplicate bool          // the extra copy of a duplicated message
	// State is what a node now is (KindState only): a typed value of the
	// node's package, e.g. phones.RecordingState or recorder.RecordingClosed.
	State State
}

// State is a node's typed state, published on the trace as a KindState
// event whenever it changes, with its cause. The TUI, the stories and the
// tests act on these values; notes are prose for people and may be reworded.
type State interface {
	// String is the state in one line, for the trace.
	String() string
}

// CleanText makes s safe for one line of text: control characters (a
// newline in a sipgo error, a NUL in a forged message) and Unicode's line
// and paragraph separators become Go escapes (\n, \x00, \u2028), so a
// message's content never breaks or forges a trace line (issue 19). Text
// without them is returned as it is.
func CleanText(s string) string {
	if !strings.ContainsFunc(s, unclean) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if !unclean(r) {
			b.WriteRune(r)
			continue
		}
		q := strconv.QuoteRune(r) // '\n', '\x00', '\u2028'
		b.WriteString(q[1 : len(q)-1])
	}
	return b.String()
}

func unclean(r rune) bool {
	return unicode.IsControl(r) || r == '\u2028' || r == '\u2029'
}

// String is the one-line form printed by `reclab run` and written to
// trace.txt: one line whatever the names and the summary hold.
func (e Event) String() string {
	e.From, e.To, e.Summary = CleanText(e.From), CleanText(e.To), CleanText(e.Summary)
	at := fmt.Sprintf("%8.3f", e.At.Seconds())
	switch e.Kind {
	case KindNote:
		return fmt.Sprintf("%s  %-9s %-5s %s", at, e.From, "", e.Summary)
	case KindError:
		return fmt.Sprintf("%s  %-9s %-5s ERROR %s", at, e.From, "", e.Summary)
	case KindState:
		return fmt.Sprintf("%s  %-9s %-5s STATE %s", at, e.From, "", e.Summary)
	}
	mark := ""
	if e.Kind == KindDropped {
		mark = "DROPPED "
	}
	if e.Delayed > 0 {
		mark += "DELAYED " + e.Delayed.Round(time.Millisecond).String() + " "
	}
	if e.Duplicate {
		mark += "DUPLICATE "
	}
	return fmt.Sprintf("%s  %-9s → %-9s %-5s %s%s", at, e.From, e.To, e.Proto, mark, e.Summary)
}

// Subscription receives trace events on C. A non-blocking subscription that
// falls behind loses events; Lost says how many. A blocking one loses
// none: its events wait in a queue of its own, which a goroutine of its
// own feeds into C, so a slow reader (a file, a terminal) delays nobody
// who publishes (issue 14 item 2).
type Subscription struct {
	C        chan Event
	blocking bool
	lost     uint64
	trace    *Trace

	// A blocking subscription's queue, under trace.mu: events not yet
	// handed to C, oldest first; more gets a token when it grows.
	queue    []Event
	more     chan struct{}
	ended    bool          // the trace closed: feed what is queued, then close C
	quit     chan struct{} // Close: stop feeding now
	quitOnce sync.Once
	fed      chan struct{} // the feeder has closed C
}

// Lost is the number of events this subscriber missed because it was slow.
func (s *Subscription) Lost() uint64 {
	s.trace.mu.Lock()
	defer s.trace.mu.Unlock()
	return s.lost
}

// Close stops delivery and closes C.
func (s *Subscription) Close() { s.trace.unsubscribe(s) }

// feed is a blocking subscription's goroutine: it hands the queued events
// to C in order, and closes C when the trace closed and the queue is
// empty, or at once when the subscriber closed it.
func (s *Subscription) feed() {
	defer close(s.fed)
	defer close(s.C)
	var batch []Event
	t := s.trace
	for {
		t.mu.Lock()
		batch, s.queue = s.queue, batch[:0]
		ended := s.ended
		t.mu.Unlock()
		for i := range batch {
			select {
			case s.C <- batch[i]:
			case <-s.quit:
				return
			}
			batch[i] = Event{} // let the bytes go
		}
		if len(batch) > 0 {
			continue
		}
		if ended {
			return
		}
		select {
		case <-s.more:
		case <-s.quit:
			return
		}
	}
}

// Trace is the lab's event bus: a bounded ring of recent events and a fan-out
// to subscribers. Slow non-blocking subscribers are counted and skipped, as in
// hashicorp/raft's observers, so the lab never waits for a display.
type Trace struct {
	mu       sync.Mutex
	ring     []Event
	next     uint64 // sequence number of the next event
	subs     []*Subscription
	closed   bool
	counts   map[Kind]uint64
	watchers []*Watch
}

// Watch waits for the first event that matches: set it up before the action
// whose outcome it waits for, so nothing can slip past.
type Watch struct {
	match func(Event) bool
	left  int
	C     chan Event // receives the n-th matching event once
	trace *Trace
}

// Watch registers a predicate checked on every event as it is published.
func (t *Trace) Watch(match func(Event) bool) *Watch { return t.WatchN(1, match) }

// WatchN fires on the n-th matching event.
func (t *Trace) WatchN(n int, match func(Event) bool) *Watch {
	w := &Watch{match: match, left: n, C: make(chan Event, 1), trace: t}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.watchers = append(t.watchers, w)
	return w
}

// Wait returns the matching event, or an error when ctx ends first.
func (w *Watch) Wait(ctx context.Context) (Event, error) {
	defer w.Cancel()
	select {
	case e := <-w.C:
		return e, nil
	case <-ctx.Done():
		return Event{}, ctx.Err()
	}
}

// Cancel forgets the watch.
func (w *Watch) Cancel() {
	t := w.trace
	t.mu.Lock()
	defer t.mu.Unlock()
	for i, x := range t.watchers {
		if x == w {
			t.watchers = append(t.watchers[:i], t.watchers[i+1:]...)
			return
		}
	}
}

// NewTrace makes a trace that keeps the last capacity events.
func NewTrace(capacity int) *Trace {
	if capacity <= 0 {
		capacity = 1
	}
	return &Trace{ring: make([]Event, 0, capacity), counts: map[Kind]uint64{}}
}

// Publish stamps e with its sequence number and hands it to every subscriber.
func (t *Trace) Publish(e Event) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	e.Seq = t.next
	t.next++
	t.counts[e.Kind]++
	if len(t.ring) < cap(t.ring) {
		t.ring = append(t.ring, e)
	} else {
		t.ring[e.Seq%uint64(cap(t.ring))] = e
	}
	for i := 0; i < len(t.watchers); i++ {
		if w := t.watchers[i]; w.match(e) {
			if w.left--; w.left > 0 {
				continue
			}
			w.C <- e
			t.watchers = append(t.watchers[:i], t.watchers[i+1:]...)
			i--
		}
	}
	for _, s := range t.subs {
		if s.blocking {
			s.queue = append(s.queue, e)
			if len(s.queue) == 1 {
				select {
				case s.more <- struct{}{}:
				default:
				}
			}
			continue
		}
		select {
		case s.C <- e:
		default:
			s.lost++
		}
	}
}

// Subscribe returns a subscription with a buffer of size events. A blocking
// subscriber is never skipped: what it has not read waits in its own
// queue, which grows without bound, so use it only for consumers that keep
// up on average (a file) and read C until it closes.
func (t *Trace) Subscribe(size int, blocking bool) *Subscription {
	_, s := t.SubscribeWithRecent(size, blocking)
	return s
}

// SubscribeWithRecent is Subscribe together with the events still in the
// ring, taken at the same moment, so nothing falls between the two or
// comes twice: a printer attached after the lab is built still prints what
// the build said (unknown configuration parameters, issue 11 item 9).
func (t *Trace) SubscribeWithRecent(size int, blocking bool) ([]Event, *Subscription) {
	s := &Subscription{C: make(chan Event, size), blocking: blocking, trace: t}
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case t.closed:
		close(s.C)
	case blocking:
		s.more, s.quit, s.fed = make(chan struct{}, 1), make(chan struct{}), make(chan struct{})
		t.subs = append(t.subs, s)
		go s.feed()
	default:
		t.subs = append(t.subs, s)
	}
	return t.recentLocked(), s
}

func (t *Trace) unsubscribe(s *Subscription) {
	t.mu.Lock()
	found := false
	for i, x := range t.subs {
		if x == s {
			t.subs = append(t.subs[:i], t.subs[i+1:]...)
			found = true
			break
		}
	}
	if !s.blocking {
		if found {
			close(s.C)
		}
		t.mu.Unlock()
		return
	}
	s.queue = nil
	s.quitOnce.Do(func() { close(s.quit) })
	t.mu.Unlock()
	<-s.fed
}

// Recent returns the events still in the ring, oldest first.
func (t *Trace) Recent() []Event {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.recentLocked()
}

func (t *Trace) recentLocked() []Event {
	n := len(t.ring)
	out := make([]Event, 0, n)
	if n < cap(t.ring) {
		return append(out, t.ring...)
	}
	start := t.next % uint64(n)
	out = append(out, t.ring[start:]...)
	return append(out, t.ring[:start]...)
}

// Count returns how many events of a kind were published.
func (t *Trace) Count(k Kind) uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.counts[k]
}

// Close closes every subscription; later events are discarded.
func (t *Trace) Close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	t.closed = true
	for _, s := range t.subs {
		if s.blocking {
			// Its feeder closes C once the queued events are read.
			s.ended = true
			select {
			case s.more <- struct{}{}:
			default:
			}
			continue
		}
		close(s.C)
	}
	t.subs = nil
}

// WatchState fires on the next state event (KindState) whose State is a T
// that match accepts; a nil match accepts any T.
func WatchState[T State](tr *Trace, match func(T) bool) *Watch {
	return WatchStateN(tr, 1, match)
}

// WatchStateN fires on the n-th such state event.
func WatchStateN[T State](tr *Trace, n int, match func(T) bool) *Watch {
	return tr.WatchN(n, func(e Event) bool {
		st, ok := e.State.(T)
		return ok && (match == nil || match(st))
	})
}
