package scenarios

import (
	"strings"
	"testing"
	"time"

	"github.com/reclab/reclab/sim"
)

func msg(seq uint64, at time.Duration, from, to string, p sim.Proto, summary string) sim.Event {
	return sim.Event{Seq: seq, At: at, Kind: sim.KindMessage, Proto: p, From: from, To: to, Summary: summary}
}

// What a failure names instead: the same endpoints and protocol first,
// the latest first, then the same endpoints, then the same protocol;
// unrelated events never.
func TestNearestNamesWhatCameInstead(t *testing.T) {
	evs := []sim.Event{
		msg(1, 100*time.Millisecond, "pbx", "7434", sim.ProtoSIP, "100 Trying (INVITE)"),
		msg(2, 200*time.Millisecond, "pbx", "recorder", sim.ProtoCSTA, "EstablishedEvent"),
		msg(3, 300*time.Millisecond, "pbx", "6867i", sim.ProtoSIP, "INVITE sip:1002@127.20.1.2"),
		msg(4, 32100*time.Millisecond, "pbx", "7434", sim.ProtoSIP, "480 Temporarily Unavailable (INVITE)"),
		{Seq: 5, At: 33 * time.Second, Kind: sim.KindNote, From: "pbx", Summary: "call cleared"},
	}
	want := Matcher{From: "pbx", To: "7434", Proto: "SIP", Response: 408}
	got := sawInstead(evs, want, "so far")
	if w := "; saw pbx → 7434 SIP 480 Temporarily Unavailable (INVITE) at 32.100s, pbx → 7434 SIP 100 Trying (INVITE) at 0.100s, pbx → 6867i SIP INVITE sip:1002@127.20.1.2 at 0.300s"; got != w {
		t.Errorf("sawInstead:\n got %s\nwant %s", got, w)
	}
	if got := sawInstead(evs[1:2], want, "so far"); got != "; saw nothing pbx → 7434 and no SIP message so far" {
		t.Errorf("nothing near: %s", got)
	}
	order := []Matcher{
		{From: "pbx", Proto: "SIP", Response: 480},
		{From: "pbx", To: "recorder", Proto: "CSTA"},
		{From: "pbx", Proto: "SIP", Response: 200},
	}
	if got, w := actualOrder(evs, order), "the run's order: pbx → recorder CSTA at 0.200s, then pbx → * SIP 480 at 32.100s; never: pbx → * SIP 200"; got != w {
		t.Errorf("actualOrder:\n got %s\nwant %s", got, w)
	}
	if got := eventText(msg(6, 0, "pbx\n", "7434", sim.ProtoSIP, "a\nb")); strings.Contains(got, "\n") {
		t.Errorf("eventText keeps a newline: %q", got)
	}
}
