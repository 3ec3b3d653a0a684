package scenarios

import (
	"fmt"
	"strings"
	"time"

	"github.com/reclab/reclab/sim"
	"github.com/reclab/reclab/sim/lab"
)

func init() {
	register(&Scenario{
		Name:        "basic-call",
		Section:     "§3.1, §3.2",
		Description: "7434 calls 6867i; the recorder, told over CSTA, records both parties through SIP forking",
		Topology:    lab.Default,
		Run:         basicCall,
	})
}

// TalkTime is how long the parties of a library call talk.
var TalkTime = 3 * time.Second

func isSIP(from, prefix string) func(sim.Event) bool {
	return func(e sim.Event) bool {
		return e.Kind == sim.KindMessage && e.Proto == sim.ProtoSIP && e.From == from && strings.HasPrefix(e.Summary, prefix)
	}
}

func isNote(from, contains string) func(sim.Event) bool {
	return func(e sim.Event) bool {
		return e.Kind == sim.KindNote && e.From == from && strings.Contains(e.Summary, contains)
	}
}

func basicCall(r *Run) error {
	l := r.Lab
	tr := l.Net.Trace()
	caller, err := l.Phone("7434")
	if err != nil {
		return err
	}
	callee, err := l.Phone("6867i")
	if err != nil {
		return err
	}
	// The recorder must know where both phones are before the call: it
	// learns it from BackInServiceEvent (spec §3.2.4–3.2.6).
	known := tr.WatchN(2, func(e sim.Event) bool {
		return e.Kind == sim.KindMessage && e.Proto == sim.ProtoCSTA && e.To == "recorder" &&
			strings.HasPrefix(e.Summary, "BackInServiceEvent")
	})
	r.Say("the PBX, the recorder and the phones come up; the phones register")
	if err := l.Start(r.Ctx); err != nil {
		return err
	}
	if _, err := r.Wait(known, 10*time.Second, "the recorder to learn both phones over CSTA"); err != nil {
		return err
	}

	ringing := tr.Watch(isSIP(callee.Name(), "180"))
	r.Say("%s (%s) dials %s", caller.Name(), caller.Ext(), callee.Ext())
	if err := caller.Dial(r.Ctx, callee.Ext()); err != nil {
		return err
	}
	if _, err := r.Wait(ringing, 10*time.Second, callee.Name()+" to ring"); err != nil {
		return err
	}
	// Two recorded parties, each forked as tx and rx: four streams reach the recorder.
	forked := tr.WatchN(4, func(e sim.Event) bool {
		return e.Kind == sim.KindStreamStart && strings.HasPrefix(e.To, "recorder")
	})
	r.Say("%s answers; the recorder INVITEs both phones at their recording ports", callee.Name())
	if err := callee.Answer(); err != nil {
		return err
	}
	if _, err := r.Wait(forked, 15*time.Second, "four forked RTP streams at the recorder"); err != nil {
		return err
	}
	r.Say("both parties talk for %s", TalkTime)
	select {
	case <-time.After(TalkTime):
	case <-r.Ctx.Done():
		return r.Ctx.Err()
	}
	closed := tr.WatchN(2, isNote("recorder", "closed"))
	r.Say("%s hangs up; CSTA ConnectionCleared makes the recorder send BYE", caller.Name())
	if err := caller.HangUp(r.Ctx); err != nil {
		return err
	}
	if _, err := r.Wait(closed, 15*time.Second, "both recordings to close"); err != nil {
		return err
	}
	checkRecordings(r, []party{
		{name: caller.Name(), ext: caller.Ext(), tone: caller.ToneHz(), other: callee.ToneHz()},
		{name: callee.Name(), ext: callee.Ext(), tone: callee.ToneHz(), other: caller.ToneHz()},
	})
	checkRecordingPorts(r)
	return nil
}

type party struct {
	name, ext   string
	tone, other float64
}

func fmtHz(f float64) string { return fmt.Sprintf("%.0f Hz", f) }
