package pbx

import (
	"sync"
	"time"
)

// The PBX's loop: one goroutine per run owns the PBX's state — the
// registrar, the digest nonces, the calls (B2BUA) and the CSTA server's
// clients and monitors — so none of it needs a lock. sipgo's handlers, the
// CSTA links' readers, the calls' workers and the timers post work to it
// (post) or post and wait for it (do); the loop itself never waits on the
// network: what blocks (a B-leg's INVITE and its answer, BYE, NOTIFY, a CSTA
// write) runs on other goroutines that post their results back. Per request
// the loop does a map lookup or two, never a walk over every phone.

// expiryTick is how often the loop lets lapsed registrations go.
const expiryTick = 250 * time.Millisecond

// inbox is an unbounded queue with a ready signal: the loop's input (of
// work) and each call's worker's (of actions). Putting never waits, not even
// from inside a sipgo transaction's callback (OnCancel runs under the
// transaction's lock).
type inbox[T any] struct {
	mu    sync.Mutex
	items []T
	ready chan struct{} // a token when items may be non-empty
}

func newInbox[T any]() *inbox[T] { return &inbox[T]{ready: make(chan struct{}, 1)} }

func (q *inbox[T]) put(x T) {
	q.mu.Lock()
	q.items = append(q.items, x)
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// take empties the queue.
func (q *inbox[T]) take() []T {
	q.mu.Lock()
	defer q.mu.Unlock()
	items := q.items
	q.items = nil
	return items
}

// wait takes what is queued, waiting for it; false once done is closed.
func (q *inbox[T]) wait(done <-chan struct{}) ([]T, bool) {
	for {
		if items := q.take(); len(items) > 0 {
			return items, true
		}
		select {
		case <-q.ready:
		case <-done:
			return nil, false
		}
	}
}

// post runs f on r's loop later, in the order posted; it never waits. Once
// the run has stopped, f never runs.
func (r *run) post(f func()) { r.inbox.put(f) }

// do runs f on r's loop and waits until it has run: true, or false when the
// run stopped first. It must not be called from the loop.
func (r *run) do(f func()) bool {
	done := make(chan struct{})
	r.inbox.put(func() { f(); close(done) })
	select {
	case <-done:
		return true
	case <-r.loopDone:
		select {
		case <-done:
			return true
		default:
			return false
		}
	}
}

// loop is the run's one owner of the PBX's state, until the run stops.
func (p *PBX) loop(r *run) {
	defer close(r.loopDone)
	t := p.node.Clock().NewTicker(expiryTick)
	defer t.Stop()
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-t.C:
			p.expire(r)
		case <-r.inbox.ready:
			for _, f := range r.inbox.take() {
				if r.ctx.Err() != nil {
					return
				}
				f()
			}
		}
	}
}

// expire lets lapsed registrations go and tells CSTA; on the loop.
func (p *PBX) expire(r *run) {
	for _, g := range p.reg.Expire(p.node.Network().Now()) {
		p.node.Note("registration of %s from %s expired", g.Ext, g.Contact)
		r.csta.outOfService(g, "expired")
	}
}
