package scenarios

import (
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/reclab/reclab/sim"
)

// maxNearest bounds how many events a failure names instead.
const maxNearest = 3

// nearest picks, among evs, the events closest to what m wanted: messages
// between the same endpoints and of the same protocol first, then the same
// endpoints, then the same protocol (issue 19: a wait for the PBX's 408
// said "saw 0 of 1" while the PBX had answered 480). Within a rank the
// latest come first; at most maxNearest. A state matcher's nearest are the
// node's other states of the same kind, then its other states.
func nearest(evs []sim.Event, m Matcher) []sim.Event {
	type scored struct {
		e    sim.Event
		rank int
	}
	var cands []scored
	for _, e := range evs {
		if m.Match(e) {
			continue
		}
		if r := closeness(e, m); r > 0 {
			cands = append(cands, scored{e, r})
		}
	}
	// The highest rank first, the latest first within a rank.
	slices.SortStableFunc(cands, func(a, b scored) int {
		if a.rank != b.rank {
			return b.rank - a.rank
		}
		return int(b.e.Seq) - int(a.e.Seq)
	})
	var out []sim.Event
	for _, c := range cands {
		if len(out) == maxNearest {
			break
		}
		out = append(out, c.e)
	}
	return out
}

// closeness ranks e against m: 0 unrelated, higher is closer.
func closeness(e sim.Event, m Matcher) int {
	if m.State != nil {
		if e.Kind != sim.KindState || (m.From != "" && e.From != m.From) {
			return 0
		}
		if m.State.Kind != nil && e.State != nil && reflect.TypeOf(e.State) == m.State.Kind.typ {
			return 2
		}
		return 1
	}
	switch e.Kind {
	case sim.KindMessage, sim.KindStreamStart, sim.KindStreamStop, sim.KindDropped, sim.KindError:
	default:
		return 0
	}
	ends := (m.From != "" || m.To != "") &&
		(m.From == "" || nodeIs(e.From, m.From)) && (m.To == "" || nodeIs(e.To, m.To))
	proto := m.Proto != "" && strings.EqualFold(m.Proto, e.Proto.String())
	switch {
	case ends && proto:
		return 3
	case ends:
		return 2
	case proto && e.Kind != sim.KindError:
		return 1
	}
	return 0
}

// eventText is an event as a failure names it: "pbx → 7434 SIP 480
// Temporarily Unavailable (INVITE) at 32.102s", the time as in trace.txt.
func eventText(e sim.Event) string {
	at := fmt.Sprintf("at %.3fs", e.At.Seconds())
	e.From, e.To = sim.CleanText(e.From), sim.CleanText(e.To)
	switch e.Kind {
	case sim.KindState:
		return fmt.Sprintf("%s STATE %s %s", e.From, sim.CleanText(e.Summary), at)
	case sim.KindError:
		return fmt.Sprintf("%s ERROR %s %s", e.From, sim.CleanText(e.Summary), at)
	case sim.KindNote:
		return fmt.Sprintf("%s %q %s", e.From, e.Summary, at)
	}
	mark := ""
	switch e.Kind {
	case sim.KindDropped:
		mark = "DROPPED "
	case sim.KindStreamStop:
		mark = "stopped "
	}
	return fmt.Sprintf("%s → %s %s %s%s %s", e.From, e.To, e.Proto, mark, sim.CleanText(e.Summary), at)
}

// sawInstead says what came instead of m among evs: "; saw A at 1.2s, B at
// 3.4s", or what did not come at all, in scope ("since the last action").
func sawInstead(evs []sim.Event, m Matcher, scope string) string {
	near := nearest(evs, m)
	if len(near) == 0 {
		return "; saw " + nothingLike(m) + " " + scope
	}
	var parts []string
	for _, e := range near {
		parts = append(parts, eventText(e))
	}
	return "; saw " + strings.Join(parts, ", ")
}

// nothingLike says which events a matcher had no near miss among.
func nothingLike(m Matcher) string {
	if m.State != nil {
		return fmt.Sprintf("no state of %s", or(m.From, "any node"))
	}
	var what []string
	if m.From != "" || m.To != "" {
		what = append(what, fmt.Sprintf("nothing %s → %s", or(m.From, "*"), or(m.To, "*")))
	}
	if m.Proto != "" {
		what = append(what, "no "+m.Proto+" message")
	}
	if len(what) == 0 {
		return "nothing like it"
	}
	return strings.Join(what, " and ")
}
