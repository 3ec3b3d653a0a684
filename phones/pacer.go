package phones

import (
	"runtime"
	"sync"

	"github.com/reclab/reclab/sim"
)

// pacer is the lab's one media engine (issue 14): a goroutine on the lab
// clock that every 20 ms has each call that sends audio send its due
// frames (mediaPump.pace), instead of a goroutine and a ticker per call.
// One pacer serves every phone of the process on a clock: a real-time lab
// shares one, a scaled, virtual or manual clock has its own, so pausing,
// speeding or stepping a lab paces its calls with it (style habit 7). The
// goroutine runs only while some call sends.
type pacer struct {
	clock sim.Clock
	kick  chan struct{} // a pass now: a new call's first frame goes at once

	// mu is held for a whole pass, so a pump removed is out of use.
	mu      sync.Mutex
	pumps   []*mediaPump
	running bool
}

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
		p = &pacer{clock: clock, kick: make(chan struct{}, 1)}
		pacers.by[clock] = p
	}
	return p
}

// add paces m from now on, its first frame at the next pass, which it
// asks for at once.
func (p *pacer) add(m *mediaPump) {
	p.mu.Lock()
	m.pacer, m.slot, m.began, m.sent = p, len(p.pumps), m.now(), 0
	p.pumps = append(p.pumps, m)
	if !p.running {
		p.running = true
		go p.run(p.clock.NewTicker(frameDuration))
	}
	p.mu.Unlock()
	select {
	case p.kick <- struct{}{}:
	default: // a pass is asked for already
	}
}

// remove stops pacing m; when it returns no pass is using m.
func (p *pacer) remove(m *mediaPump) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if m.slot < 0 {
		return
	}
	last := len(p.pumps) - 1
	p.pumps[m.slot] = p.pumps[last]
	p.pumps[m.slot].slot = m.slot
	p.pumps[last] = nil
	p.pumps = p.pumps[:last]
	m.slot = -1
}

// minShare is the fewest calls worth a worker of their own in a pass.
const minShare = 32

// run makes a pass on every tick (and kick) until no call is left. A pass
// over many calls is shared among GOMAXPROCS goroutines (the run's own and
// helpers that live as long as it): a frame is two datagrams through the
// kernel, and one goroutine alone would not send a large lab's frames in
// 20 ms. The helpers are a fixed pool, not one per call.
func (p *pacer) run(tick *sim.Ticker) {
	defer tick.Stop()
	var wg sync.WaitGroup
	helpers := make([]chan []*mediaPump, runtime.GOMAXPROCS(0)-1)
	for i := range helpers {
		helpers[i] = make(chan []*mediaPump)
		go func(share <-chan []*mediaPump) {
			for pumps := range share {
				paceAll(pumps)
				wg.Done()
			}
		}(helpers[i])
	}
	defer func() {
		for _, h := range helpers {
			close(h)
		}
	}()
	for {
		select {
		case <-tick.C:
		case <-p.kick:
		}
		p.mu.Lock()
		n := len(p.pumps)
		if n == 0 {
			p.running = false
			p.mu.Unlock()
			return
		}
		per := max(minShare, (n+len(helpers))/(len(helpers)+1)) // all n in len(helpers)+1 shares
		rest := p.pumps[min(per, n):]
		for _, h := range helpers {
			if len(rest) == 0 {
				break
			}
			k := min(per, len(rest))
			wg.Add(1)
			h <- rest[:k]
			rest = rest[k:]
		}
		paceAll(p.pumps[:min(per, n)])
		wg.Wait()
		p.mu.Unlock()
	}
}

func paceAll(pumps []*mediaPump) {
	for _, m := range pumps {
		m.pace()
	}
}
