package phones

import (
	"runtime"
	"sync"

	"github.com/reclab/reclab/sim"
)

// pacer is the lab's one media engine (issue 14): one ticker on the lab
// clock that every 20 ms has each call that sends audio send its due
// frames (mediaPump.pace), instead of a goroutine and a ticker per call.
// One pacer serves every phone of the process on a clock: a real-time lab
// shares one, a scaled, virtual or manual clock has its own, so pausing,
// speeding or stepping a lab paces its calls with it (style habit 7).
//
// The calls are shared among a fixed set of lanes, each a goroutine that
// makes its pass when the tick comes: a frame is two datagrams through the
// kernel, and one goroutine alone would not send a large lab's frames in
// 20 ms; a lane still busy when the next tick comes catches up on it in its
// next pass (pace counts what is due), so a slow lane never holds up the
// others. The goroutines run only while some call sends.
type pacer struct {
	clock sim.Clock

	mu    sync.Mutex // serialises add and remove's bookkeeping
	lanes []*lane    // nil while no call sends
	calls int
	stop  chan struct{} // closed when the last call leaves
}

// lane is one goroutine's share of the calls.
type lane struct {
	kick chan struct{} // a pass: the tick, or a new call's first frame

	// mu is held for a whole pass, so a pump removed is out of use.
	mu    sync.Mutex
	pumps []*mediaPump
}

// pacerLanes is how many lanes a pacer has: a few per core, so a lane's
// goroutine waiting for a core delays only its share.
func pacerLanes() int { return 4 * runtime.GOMAXPROCS(0) }

var pacers struct {
	mu sync.Mutex
	by map[sim.Clock]*pacer
}

// pacerOf is the pacer of clock.
func pacerOf(clock sim.Clock) *pacer {
	pacers.mu.Lock()
	defer pacers.mu.Unlock()
	p := pacers.by[clock]
	if p == nil {
		if pacers.by == nil {
			pacers.by = map[sim.Clock]*pacer{}
		}
		p = &pacer{clock: clock}
		pacers.by[clock] = p
	}
	return p
}

// add paces m from now on, in the lane with the fewest calls; its first
// frame goes in a pass it asks for at once.
func (p *pacer) add(m *mediaPump) {
	p.mu.Lock()
	if p.lanes == nil {
		p.start()
	}
	l := p.lanes[0]
	for _, o := range p.lanes[1:] {
		if o.size() < l.size() {
			l = o
		}
	}
	l.mu.Lock()
	m.pacer, m.lane, m.slot, m.began, m.sent = p, l, len(l.pumps), m.now(), 0
	l.pumps = append(l.pumps, m)
	l.mu.Unlock()
	p.calls++
	p.mu.Unlock()
	l.wake()
}

// remove stops pacing m; when it returns no pass is using m.
func (p *pacer) remove(m *mediaPump) {
	l := m.lane
	if l == nil {
		return
	}
	l.mu.Lock()
	last := len(l.pumps) - 1
	l.pumps[m.slot] = l.pumps[last]
	l.pumps[m.slot].slot = m.slot
	l.pumps[last] = nil
	l.pumps = l.pumps[:last]
	l.mu.Unlock()
	m.lane = nil
	p.mu.Lock()
	if p.calls--; p.calls == 0 {
		close(p.stop)
		p.lanes = nil
	}
	p.mu.Unlock()
}

// start runs the ticker and the lanes, until stop closes. p.mu is held.
func (p *pacer) start() {
	p.stop = make(chan struct{})
	p.lanes = make([]*lane, pacerLanes())
	for i := range p.lanes {
		p.lanes[i] = &lane{kick: make(chan struct{}, 1)}
		go p.lanes[i].run(p.stop)
	}
	go tickLanes(p.clock.NewTicker(frameDuration), p.lanes, p.stop)
}

// tickLanes asks every lane for a pass on each 20 ms tick.
func tickLanes(tick *sim.Ticker, lanes []*lane, stop <-chan struct{}) {
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		for _, l := range lanes {
			l.wake()
		}
	}
}

// wake asks for a pass; one already asked for covers it.
func (l *lane) wake() {
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

func (l *lane) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.pumps)
}

// run makes a pass over the lane's calls at each kick.
func (l *lane) run(stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		case <-l.kick:
		}
		l.mu.Lock()
		for _, m := range l.pumps {
			m.pace()
		}
		l.mu.Unlock()
	}
}
