package sim

import (
	"container/heap"
	"context"
	"sync"
	"time"
)

// Clock is the lab's one source of time (style habit 7): every node timer
// and every timestamp of a lab comes from the clock of its Network, so a run
// can be slowed, sped, paused or stepped and its trace, pcap and recordings
// tell the same time. Three clocks exist:
//
//   - Real: the machine's clock; what the lab uses unless told otherwise.
//   - NewScaledClock: lab time runs at a rate of the machine's, and the rate
//     may change while the lab runs (the speed control; 0 pauses).
//   - NewManualClock: time moves only when a test calls Advance, and the
//     timers due fire in time order, each to completion, before it returns.
//
// Only sim/clock.go reads the machine's clock for the lab; a test in the
// repository (TestNodeCodeUsesTheLabClock) keeps it so.
//
// sipgo's transaction timers (T1, Timer B, …) are not on this clock: they
// are process-wide real timers (lab.SetSIPTimers).
type Clock interface {
	Now() time.Time
	Since(t time.Time) time.Duration
	// AfterFunc calls f in its own goroutine once d has passed (on the
	// manual clock: on Advance's goroutine).
	AfterFunc(d time.Duration, f func()) *Timer
	NewTimer(d time.Duration) *Timer
	NewTicker(d time.Duration) *Ticker
}

// Timer is a timer of a Clock. C is nil for an AfterFunc timer.
type Timer struct {
	C  <-chan time.Time
	rt *time.Timer
	vt *vtimer
}

// Stop prevents the timer from firing; it reports whether it stopped a
// pending timer.
func (t *Timer) Stop() bool {
	if t.rt != nil {
		return t.rt.Stop()
	}
	return t.vt.stop()
}

// Reset makes the timer fire d from now; it reports whether the timer was
// pending.
func (t *Timer) Reset(d time.Duration) bool {
	if t.rt != nil {
		return t.rt.Reset(d)
	}
	return t.vt.reset(d, 0)
}

// Ticker is a ticker of a Clock. Like time.Ticker it drops ticks a slow
// receiver misses.
type Ticker struct {
	C  <-chan time.Time
	rt *time.Ticker
	vt *vtimer
}

// Stop turns the ticker off.
func (t *Ticker) Stop() {
	if t.rt != nil {
		t.rt.Stop()
		return
	}
	t.vt.stop()
}

// Reset stops the ticker and starts it again with period d.
func (t *Ticker) Reset(d time.Duration) {
	if t.rt != nil {
		t.rt.Reset(d)
		return
	}
	t.vt.reset(d, d)
}

// Real is the machine's clock.
func Real() Clock { return realClock{} }

type realClock struct{}

func (realClock) Now() time.Time                  { return time.Now() }
func (realClock) Since(t time.Time) time.Duration { return time.Since(t) }
func (realClock) AfterFunc(d time.Duration, f func()) *Timer {
	return &Timer{rt: time.AfterFunc(d, f)}
}
func (realClock) NewTimer(d time.Duration) *Timer {
	t := time.NewTimer(d)
	return &Timer{C: t.C, rt: t}
}
func (realClock) NewTicker(d time.Duration) *Ticker {
	t := time.NewTicker(d)
	return &Ticker{C: t.C, rt: t}
}

// ScaledClock runs lab time at a rate of the machine's clock: 1 is real
// time, 0.5 half speed, 0 paused. SetRate changes it while the lab runs;
// pending timers keep their lab-time deadlines.
type ScaledClock struct {
	virtualClock
	anchorWall time.Time // machine time (monotonic) at the last rate change
	anchorLab  time.Time // lab time then
	rate       float64
	wake       *time.Timer // fires at the earliest deadline, in machine time
}

// NewScaledClock starts a scaled clock at the machine's time now.
func NewScaledClock(rate float64) *ScaledClock {
	now := time.Now()
	c := &ScaledClock{anchorWall: now, anchorLab: now, rate: max(rate, 0)}
	c.virtualClock.init(c.nowLocked, c.rearmLocked, true)
	c.wake = time.AfterFunc(time.Hour, c.fireDue)
	c.wake.Stop()
	return c
}

// Rate is the clock's rate.
func (c *ScaledClock) Rate() float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rate
}

// SetRate changes the rate from now on; a negative rate is 0 (paused).
func (c *ScaledClock) SetRate(rate float64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.anchorLab = c.nowLocked()
	c.anchorWall = time.Now()
	c.rate = max(rate, 0)
	c.rearmLocked()
}

func (c *ScaledClock) nowLocked() time.Time {
	return c.anchorLab.Add(time.Duration(float64(time.Since(c.anchorWall)) * c.rate))
}

// rearmLocked points the machine timer at the earliest deadline.
func (c *ScaledClock) rearmLocked() {
	if len(c.timers) == 0 || c.rate == 0 {
		c.wake.Stop()
		return
	}
	d := c.timers[0].when.Sub(c.nowLocked())
	c.wake.Reset(max(time.Duration(float64(d)/c.rate), 0))
}

func (c *ScaledClock) fireDue() {
	c.mu.Lock()
	due := c.popDueLocked(c.nowLocked())
	c.rearmLocked()
	c.mu.Unlock()
	for _, f := range due {
		f()
	}
}

// ManualClock moves only when told: tests step a lab's timers with it.
type ManualClock struct {
	virtualClock
	now time.Time
}

// NewManualClock starts a manual clock at start.
func NewManualClock(start time.Time) *ManualClock {
	c := &ManualClock{now: start}
	c.virtualClock.init(func() time.Time { return c.now }, func() {}, false)
	return c
}

// Advance moves the clock on by d. Timers due fire in deadline order (ties
// in the order they were set), each with the clock at its deadline, and a
// timer they set that falls due within d fires too. AfterFunc callbacks run
// on the caller's goroutine, one after another.
func (c *ManualClock) Advance(d time.Duration) {
	c.mu.Lock()
	target := c.now.Add(d)
	for len(c.timers) > 0 && !c.timers[0].when.After(target) {
		c.now = c.timers[0].when
		due := c.popDueLocked(c.now)
		c.mu.Unlock()
		for _, f := range due {
			f()
		}
		c.mu.Lock()
	}
	c.now = target
	c.mu.Unlock()
}

// Pending is the number of timers and tickers set and not yet fired or
// stopped.
func (c *ManualClock) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// virtualClock keeps the timers of a clock that is not the machine's: a heap
// by lab-time deadline. now and changed are called with mu held.
type virtualClock struct {
	mu      sync.Mutex
	now     func() time.Time
	changed func()
	async   bool // AfterFunc callbacks in their own goroutine
	timers  timerHeap
	seq     uint64
}

func (c *virtualClock) init(now func() time.Time, changed func(), async bool) {
	c.now, c.changed, c.async = now, changed, async
}

func (c *virtualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now()
}

func (c *virtualClock) Since(t time.Time) time.Duration { return c.Now().Sub(t) }

func (c *virtualClock) AfterFunc(d time.Duration, f func()) *Timer {
	vt := &vtimer{clk: c, f: f, idx: -1}
	vt.reset(d, 0)
	return &Timer{vt: vt}
}

func (c *virtualClock) NewTimer(d time.Duration) *Timer {
	ch := make(chan time.Time, 1)
	vt := &vtimer{clk: c, c: ch, idx: -1}
	vt.reset(d, 0)
	return &Timer{C: ch, vt: vt}
}

func (c *virtualClock) NewTicker(d time.Duration) *Ticker {
	if d <= 0 {
		panic("sim: non-positive interval for NewTicker")
	}
	ch := make(chan time.Time, 1)
	vt := &vtimer{clk: c, c: ch, idx: -1}
	vt.reset(d, d)
	return &Ticker{C: ch, vt: vt}
}

// popDueLocked takes every timer due at now off the heap (tickers go back
// with their next deadline) and returns what firing them means, to be done
// without the lock: a channel send or an AfterFunc call.
func (c *virtualClock) popDueLocked(now time.Time) []func() {
	var due []func()
	for len(c.timers) > 0 && !c.timers[0].when.After(now) {
		vt := heap.Pop(&c.timers).(*vtimer)
		at := vt.when
		if vt.period > 0 {
			// Skip the ticks a stalled clock reader missed, as time.Ticker does.
			next := at.Add(vt.period)
			if !next.After(now) {
				next = now.Add(vt.period - now.Sub(at)%vt.period)
			}
			vt.when = next
			c.push(vt)
		}
		switch {
		case vt.f != nil && c.async:
			f := vt.f
			due = append(due, func() { go f() })
		case vt.f != nil:
			due = append(due, vt.f)
		default:
			ch := vt.c
			due = append(due, func() {
				select {
				case ch <- at:
				default: // a tick the reader has not taken yet stands
				}
			})
		}
	}
	return due
}

func (c *virtualClock) push(vt *vtimer) {
	c.seq++
	vt.seq = c.seq
	heap.Push(&c.timers, vt)
}

type vtimer struct {
	clk    *virtualClock
	when   time.Time
	period time.Duration // a ticker's; 0 for a timer
	f      func()
	c      chan time.Time
	idx    int // in the heap; -1 when not pending
	seq    uint64
}

func (vt *vtimer) stop() bool {
	c := vt.clk
	c.mu.Lock()
	defer c.mu.Unlock()
	pending := vt.idx >= 0
	if pending {
		heap.Remove(&c.timers, vt.idx)
		c.changed()
	}
	vt.drain()
	return pending
}

func (vt *vtimer) reset(d, period time.Duration) bool {
	c := vt.clk
	c.mu.Lock()
	defer c.mu.Unlock()
	pending := vt.idx >= 0
	if pending {
		heap.Remove(&c.timers, vt.idx)
	}
	vt.drain()
	vt.when = c.now().Add(max(d, 0))
	vt.period = period
	c.push(vt)
	c.changed()
	return pending
}

// drain empties the channel so no stale tick follows a Stop or Reset (as
// time.Timer has done since Go 1.23).
func (vt *vtimer) drain() {
	if vt.c == nil {
		return
	}
	select {
	case <-vt.c:
	default:
	}
}

type timerHeap []*vtimer

func (h timerHeap) Len() int { return len(h) }
func (h timerHeap) Less(i, j int) bool {
	if h[i].when.Equal(h[j].when) {
		return h[i].seq < h[j].seq
	}
	return h[i].when.Before(h[j].when)
}
func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].idx, h[j].idx = i, j
}
func (h *timerHeap) Push(x any) {
	vt := x.(*vtimer)
	vt.idx = len(*h)
	*h = append(*h, vt)
}
func (h *timerHeap) Pop() any {
	old := *h
	vt := old[len(old)-1]
	old[len(old)-1] = nil
	vt.idx = -1
	*h = old[:len(old)-1]
	return vt
}

// WithTimeout is context.WithTimeout on the lab clock c: the context is done
// when d has passed by c. On the real clock it is context.WithTimeout; on
// another its Err is context.Canceled and its Cause context.DeadlineExceeded.
func WithTimeout(parent context.Context, c Clock, d time.Duration) (context.Context, context.CancelFunc) {
	if _, real := c.(realClock); real {
		return context.WithTimeout(parent, d)
	}
	ctx, cancel := context.WithCancelCause(parent)
	t := c.AfterFunc(d, func() { cancel(context.DeadlineExceeded) })
	return ctx, func() {
		t.Stop()
		cancel(context.Canceled)
	}
}

// SocketDeadline is the deadline d from now for a socket (net.Conn's
// SetReadDeadline, SetWriteDeadline): the OS measures those on the
// machine's clock, not the lab's, so they are the one machine-time read
// node code may ask for.
func SocketDeadline(d time.Duration) time.Time { return time.Now().Add(d) }
