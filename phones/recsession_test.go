package phones

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/reclab/reclab/sim/media"
)

var (
	recorderSrc = netip.MustParseAddrPort("127.20.0.2:5060")
	rogueSrc    = netip.MustParseAddrPort("127.20.9.9:5060")
	recTX       = netip.MustParseAddrPort("127.20.0.2:20000")
	recRX       = netip.MustParseAddrPort("127.20.0.2:20002")
	recTX2      = netip.MustParseAddrPort("127.20.0.2:20004")
	recRX2      = netip.MustParseAddrPort("127.20.0.2:20006")
)

// Shorthand events for the table.
func evRegistered() RecEvent { return RecEvent{Kind: RecRegistered} }
func evLoggedOff() RecEvent  { return RecEvent{Kind: RecLoggedOff} }
func evPowerOff() RecEvent   { return RecEvent{Kind: RecPowerOff} }

func evInvite(callID string, sess uint64) RecEvent {
	return RecEvent{Kind: RecInvite, CallID: callID, Source: recorderSrc, Allowed: true,
		Offer: media.RecordingOffer{SessionID: sess, TX: recTX, RX: recRX}}
}

func evInviteTo(callID string, sess uint64, tx, rx netip.AddrPort) RecEvent {
	ev := evInvite(callID, sess)
	ev.Offer.TX, ev.Offer.RX = tx, rx
	return ev
}

func evReInvite(callID string) RecEvent {
	return RecEvent{Kind: RecInvite, CallID: callID, Source: recorderSrc, Allowed: true, InDialog: true}
}

func evBadOffer(callID string) RecEvent {
	return RecEvent{Kind: RecInvite, CallID: callID, Source: recorderSrc, Allowed: true, OfferErr: errors.New("sdp: recording offer has 1 m= lines, want 2 (tx, rx)")}
}

func evFromRogue(kind RecEventKind, callID string) RecEvent {
	ev := RecEvent{Kind: kind, CallID: callID, Source: rogueSrc, Allowed: false}
	if kind == RecInvite {
		ev.Offer = media.RecordingOffer{SessionID: 99, TX: netip.MustParseAddrPort("127.20.9.9:20000"), RX: netip.MustParseAddrPort("127.20.9.9:20002")}
	}
	return ev
}

func ev(kind RecEventKind, callID string) RecEvent {
	return RecEvent{Kind: kind, CallID: callID, Source: recorderSrc, Allowed: true}
}

// step is one event and what Step must return, as RecAction.String()s. A
// want entry ending in "…" matches any action string with that prefix.
type step struct {
	ev    RecEvent
	want  []string
	state RecState
}

func TestRecSessionTable(t *testing.T) {
	// upSteps brings a registered phone to a forking session on Call-ID a.
	upSteps := []step{
		{evRegistered(), nil, RecIdle},
		{evInvite("a", 1), []string{"note: recording INVITE from 127.20.0.2:5060 accepted (session id 1): 200 OK, waiting for ACK", "respond 200 OK +answer"}, RecOffered},
		{ev(RecAck, "a"), []string{"start-fork tx 127.20.0.2:20000 rx 127.20.0.2:20002", "no-response"}, RecForking},
	}
	up := func(more ...step) []step { return append(append([]step(nil), upSteps...), more...) }

	tests := []struct {
		name  string
		steps []step
	}{
		{"invite, ack, update, bye", up(
			step{ev(RecUpdate, "a"), []string{"respond 200 OK"}, RecForking},
			step{ev(RecBye, "a"), []string{"stop-fork", "forget a", "note: BYE from the recorder: recording session ended", "respond 200 OK"}, RecIdle},
			step{ev(RecUpdate, "a"), []string{"respond 481 Call/Transaction Does Not Exist"}, RecIdle},
		)},
		{"logged-off phone ignores INVITE (spec §3.2)", []step{
			{evInvite("a", 1), []string{"note: ignored INVITE: logged off", "no-response"}, RecIdle},
		}},
		{"logged off again ignores INVITE", []step{
			{evRegistered(), nil, RecIdle},
			{evLoggedOff(), nil, RecIdle},
			{evInvite("a", 1), []string{"note: ignored INVITE: logged off", "no-response"}, RecIdle},
		}},
		{"logged off beats the allow-list check", []step{
			{evFromRogue(RecInvite, "x"), []string{"note: ignored INVITE: logged off", "no-response"}, RecIdle},
		}},
		{"INVITE from a rogue address: 403, nothing changes", []step{
			{evRegistered(), nil, RecIdle},
			{evFromRogue(RecInvite, "x"), []string{"note: refused INVITE from 127.20.9.9: not in recording allowed ip (spec §3.2)", "respond 403 Forbidden"}, RecIdle},
		}},
		{"rogue ACK, UPDATE, BYE, INVITE change nothing while forking", up(
			step{evFromRogue(RecAck, "a"), []string{"note: ignored ACK from 127.20.9.9: not in recording allowed ip (spec §3.2)", "no-response"}, RecForking},
			step{evFromRogue(RecUpdate, "a"), []string{"note: refused UPDATE from 127.20.9.9: not in recording allowed ip (spec §3.2)", "respond 403 Forbidden"}, RecForking},
			step{evFromRogue(RecBye, "a"), []string{"note: refused BYE from 127.20.9.9: not in recording allowed ip (spec §3.2)", "respond 403 Forbidden"}, RecForking},
			step{evFromRogue(RecInvite, "x"), []string{"note: refused INVITE from 127.20.9.9: not in recording allowed ip (spec §3.2)", "respond 403 Forbidden"}, RecForking},
			step{ev(RecUpdate, "a"), []string{"respond 200 OK"}, RecForking},
		)},
		{"rogue ACK does not start forking", []step{
			{evRegistered(), nil, RecIdle},
			{evInvite("a", 1), []string{"note: recording INVITE…", "respond 200 OK +answer"}, RecOffered},
			{evFromRogue(RecAck, "a"), []string{"note: ignored ACK…", "no-response"}, RecOffered},
			{ev(RecAck, "a"), []string{"start-fork…", "no-response"}, RecForking},
		}},
		{"bad offer: 488 and a problem, nothing changes", []step{
			{evRegistered(), nil, RecIdle},
			{evBadOffer("a"), []string{"problem: recording INVITE: sdp: recording offer has 1 m= lines, want 2 (tx, rx)", "respond 488 Not Acceptable Here"}, RecIdle},
			{evInvite("b", 1), []string{"note: recording INVITE…", "respond 200 OK +answer"}, RecOffered},
		}},
		{"bad offer while forking keeps the session", up(
			step{evBadOffer("b"), []string{"problem: …", "respond 488 Not Acceptable Here"}, RecForking},
			step{ev(RecUpdate, "a"), []string{"respond 200 OK"}, RecForking},
		)},
		{"spec §3.2.1: same session id, new Call-ID, while offered: answer only the first", []step{
			{evRegistered(), nil, RecIdle},
			{evInvite("a", 7), []string{"note: …", "respond 200 OK +answer"}, RecOffered},
			{evInvite("b", 7), []string{"note: INVITE repeats session id 7 of the pending one: answering only the first (spec §3.2.1)", "no-response"}, RecOffered},
			// The recorder's transaction retransmits b: still nothing.
			{evInvite("b", 7), []string{"no-response"}, RecOffered},
			// Only the first INVITE's ACK starts forking.
			{ev(RecAck, "b"), []string{"no-response"}, RecOffered},
			{ev(RecAck, "a"), []string{"start-fork tx 127.20.0.2:20000 rx 127.20.0.2:20002", "no-response"}, RecForking},
			// b retransmitted after the ACK is no recovery.
			{evInvite("b", 7), []string{"no-response"}, RecForking},
			{ev(RecUpdate, "a"), []string{"respond 200 OK"}, RecForking},
		}},
		{"spec §3.2.2 recovery: new session id while forking replaces without BYE", up(
			step{evInviteTo("c", 2, recTX2, recRX2), []string{"stop-fork", "forget a",
				"note: new recording INVITE replaces the session (session id 1) without BYE (spec §3.2.2)",
				"note: recording INVITE from 127.20.0.2:5060 accepted (session id 2): 200 OK, waiting for ACK",
				"respond 200 OK +answer"}, RecOffered},
			step{ev(RecUpdate, "a"), []string{"respond 481 Call/Transaction Does Not Exist"}, RecOffered},
			step{ev(RecAck, "c"), []string{"start-fork tx 127.20.0.2:20004 rx 127.20.0.2:20006", "no-response"}, RecForking},
			// A late retransmission of the replaced session's INVITE opens nothing.
			step{evInvite("a", 1), []string{"no-response"}, RecForking},
		)},
		{"recovery with the same session id and a new Call-ID after the ACK", up(
			step{evInvite("d", 1), []string{"stop-fork", "forget a", "note: new recording INVITE replaces…", "note: recording INVITE…", "respond 200 OK +answer"}, RecOffered},
		)},
		{"new session id while offered replaces the pending one", []step{
			{evRegistered(), nil, RecIdle},
			{evInvite("a", 1), []string{"note: …", "respond 200 OK +answer"}, RecOffered},
			{evInvite("b", 2), []string{"forget a", "note: new recording INVITE replaces…", "note: recording INVITE…", "respond 200 OK +answer"}, RecOffered},
			{ev(RecAck, "a"), []string{"no-response"}, RecOffered},
			{ev(RecAck, "b"), []string{"start-fork…", "no-response"}, RecForking},
		}},
		{"spec §3.2.2 session refresher: re-INVITE answered with the same answer", up(
			step{evReInvite("a"), []string{"note: re-INVITE from the recorder: session refreshed (spec §3.2.2)", "respond 200 OK +answer"}, RecForking},
			step{ev(RecAck, "a"), []string{"no-response"}, RecForking}, // the re-INVITE's ACK
		)},
		{"re-INVITE for an unknown dialog: 481", []step{
			{evRegistered(), nil, RecIdle},
			{evReInvite("zz"), []string{"respond 481 Call/Transaction Does Not Exist"}, RecIdle},
		}},
		{"re-INVITE before the ACK: 491", []step{
			{evRegistered(), nil, RecIdle},
			{evInvite("a", 1), []string{"note: …", "respond 200 OK +answer"}, RecOffered},
			{evReInvite("a"), []string{"respond 491 Request Pending"}, RecOffered},
		}},
		{"BYE for another dialog: 481, session stays", up(
			step{ev(RecBye, "zz"), []string{"respond 481 Call/Transaction Does Not Exist"}, RecForking},
		)},
		{"BYE before the ACK ends the offer", []step{
			{evRegistered(), nil, RecIdle},
			{evInvite("a", 1), []string{"note: …", "respond 200 OK +answer"}, RecOffered},
			{ev(RecBye, "a"), []string{"forget a", "note: BYE from the recorder: recording session ended", "respond 200 OK"}, RecIdle},
		}},
		{"unregister while forking: BYE to the recorder (spec §3.2)", up(
			step{evLoggedOff(), []string{"stop-fork", "note: logged off with a recording session up: BYE to the recorder (spec §3.2)", "send-bye a"}, RecIdle},
			step{evInvite("e", 5), []string{"note: ignored INVITE: logged off", "no-response"}, RecIdle},
		)},
		{"unregister while offered: BYE too (INVITE but no BYE received)", []step{
			{evRegistered(), nil, RecIdle},
			{evInvite("a", 1), []string{"note: …", "respond 200 OK +answer"}, RecOffered},
			{evLoggedOff(), []string{"note: logged off…", "send-bye a"}, RecIdle},
		}},
		{"unregister with no session: no BYE", []step{
			{evRegistered(), nil, RecIdle},
			{evLoggedOff(), nil, RecIdle},
		}},
		{"power cut: no BYE (spec §3.2.4), then logged off", up(
			step{evPowerOff(), []string{"stop-fork", "forget a", "note: power cut: recording session dropped without BYE (spec §3.2.4)"}, RecIdle},
			step{evInvite("f", 1), []string{"note: ignored INVITE: logged off", "no-response"}, RecIdle},
		)},
		{"ACK never came: session dropped without BYE", []step{
			{evRegistered(), nil, RecIdle},
			{evInvite("a", 1), []string{"note: …", "respond 200 OK +answer"}, RecOffered},
			{ev(RecAckTimeout, "zz"), nil, RecOffered},
			{ev(RecAckTimeout, "a"), []string{"forget a", "note: no ACK for the 200 OK…"}, RecIdle},
		}},
		{"ack timeout after the ACK is ignored", up(
			step{ev(RecAckTimeout, "a"), nil, RecForking},
		)},
		{"static mapping: the session survives calls and re-registration refreshes", up(
			step{evRegistered(), nil, RecForking},
			step{ev(RecUpdate, "a"), []string{"respond 200 OK"}, RecForking},
		)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s RecSession
			for i, st := range tt.steps {
				got := s.Step(st.ev)
				if !matchActions(got, st.want) {
					t.Fatalf("step %d (%s): actions\n got  %q\n want %q", i, st.ev, actionStrings(got), st.want)
				}
				if s.State() != st.state {
					t.Fatalf("step %d (%s): state %s, want %s", i, st.ev, s.State(), st.state)
				}
			}
		})
	}
}

func actionStrings(acts []RecAction) []string {
	out := make([]string, len(acts))
	for i, a := range acts {
		out[i] = a.String()
	}
	return out
}

func matchActions(got []RecAction, want []string) bool {
	if len(got) != len(want) {
		return false
	}
	for i, a := range got {
		s, w := a.String(), want[i]
		if p, ok := strings.CutSuffix(w, "…"); ok {
			if !strings.HasPrefix(s, p) {
				return false
			}
		} else if s != w {
			return false
		}
	}
	return true
}

func TestRecSessionResponseIsLast(t *testing.T) {
	// Property the driver relies on: a response, if any, is the last action.
	var s RecSession
	events := []RecEvent{evInvite("a", 1), evRegistered(), evInvite("a", 1), evInvite("b", 1), ev(RecAck, "a"),
		evReInvite("a"), ev(RecUpdate, "a"), evInvite("c", 2), evFromRogue(RecBye, "c"), ev(RecBye, "c"), evBadOffer("d")}
	for _, e := range events {
		acts := s.Step(e)
		for i, a := range acts {
			if (a.Kind == RecRespond || a.Kind == RecNoResponse) && i != len(acts)-1 {
				t.Fatalf("%s: response %s is not last in %q", e, a, actionStrings(acts))
			}
		}
	}
}

func TestRecStrings(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{RecIdle.String(), "idle"}, {RecOffered.String(), "offered"}, {RecForking.String(), "forking"},
		{RecState(9).String(), "RecState(9)"},
		{RecInvite.String(), "INVITE"}, {RecAckTimeout.String(), "ack-timeout"}, {RecEventKind(99).String(), "RecEventKind(99)"},
		{RecSendBye.String(), "send-bye"}, {RecActionKind(99).String(), "RecActionKind(99)"},
		{CallTalking.String(), "talking"}, {CallState(9).String(), "CallState(9)"},
		{ev(RecBye, "x").String(), "BYE call-id x from 127.20.0.2:5060"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

func TestRecSessionSpentIsBounded(t *testing.T) {
	var s RecSession
	s.Step(evRegistered())
	for i := range 100 {
		id := string(rune('A'+i%26)) + strings.Repeat("x", i)
		s.Step(evInvite(id, uint64(i)))
		s.Step(ev(RecBye, id))
	}
	if len(s.spent) > maxSpent {
		t.Fatalf("spent holds %d Call-IDs, max %d", len(s.spent), maxSpent)
	}
}
