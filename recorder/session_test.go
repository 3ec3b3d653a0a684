package recorder

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestSessionMachine(t *testing.T) {
	c1 := Call{ID: "000000000000000000000001", Calling: "1001", Called: "1002"}
	c2 := Call{ID: "000000000000000000000002", Calling: "1003", Called: "1001"}
	in := func(k InputKind) Input { return Input{Kind: k} }
	withCall := func(k InputKind, c Call) Input { return Input{Kind: k, Call: c} }
	because := func(k InputKind, reason string) Input { return Input{Kind: k, Reason: reason} }

	type step struct {
		in   Input
		want string // actions, "; "-separated, as Action.String prints them
	}
	tests := []struct {
		name    string
		mapping Mapping
		steps   []step
		final   SessionState
	}{
		{"dynamic: one call recorded, BYE at clearing", Dynamic, []step{
			{withCall(InStart, c1), "send-invite " + c1.ID},
			{in(InAnswered), "open-recording " + c1.ID + "; send-ack; arm-keep-alive"},
			{in(InKeepAliveDue), "send-update"},
			{in(InKeepAliveDue), ""}, // UPDATE still out: no second one
			{in(InKeepAliveOK), "arm-keep-alive"},
			{withCall(InCallStarted, c2), ""}, // not this session's call
			{withCall(InCallCleared, c2), ""},
			// spec §3.2: the phone forks until it gets the BYE, so the file
			// stays open until the BYE is answered.
			{withCall(InCallCleared, c1), "send-bye"},
			// What the phone forked before the BYE reached it is still on
			// the wire when the 200 OK is in: the file drains first.
			{in(InByeDone), "drain-recording " + c1.ID},
			{in(InKeepAliveDue), ""},
			{withCall(InDrained, c2), ""}, // not the draining call
			{withCall(InDrained, c1), "close-recording " + c1.ID + ": call cleared; finish: call cleared"},
		}, SessionEnded},
		{"dynamic: phone sends BYE while recording", Dynamic, []step{
			{withCall(InStart, c1), "send-invite " + c1.ID},
			{in(InAnswered), "open-recording " + c1.ID + "; send-ack; arm-keep-alive"},
			{in(InPhoneBye), "drain-recording " + c1.ID},
			{withCall(InCallCleared, c1), ""},
			{withCall(InDrained, c1), "close-recording " + c1.ID + ": phone sent BYE; finish: phone sent BYE"},
		}, SessionEnded},
		{"dynamic: the recorder closes while a file drains", Dynamic, []step{
			{withCall(InStart, c1), "send-invite " + c1.ID},
			{in(InAnswered), "open-recording " + c1.ID + "; send-ack; arm-keep-alive"},
			{withCall(InCallCleared, c1), "send-bye"},
			{in(InByeDone), "drain-recording " + c1.ID},
			{because(InStop, ReasonClosed), "close-recording " + c1.ID + ": call cleared; finish: call cleared"},
			{withCall(InDrained, c1), ""},
		}, SessionEnded},
		{"dynamic: call clears before the answer", Dynamic, []step{
			{withCall(InStart, c1), "send-invite " + c1.ID},
			{withCall(InCallCleared, c1), ""},
			{in(InAnswered), "send-ack; send-bye"},
			{because(InByeDone, "timeout"), "report: BYE failed: timeout; finish: call cleared"},
		}, SessionEnded},
		{"INVITE rejected", Dynamic, []step{
			{withCall(InStart, c1), "send-invite " + c1.ID},
			{because(InRejected, "phone answered 403 Forbidden"),
				"report: INVITE failed: phone answered 403 Forbidden; finish: INVITE failed: phone answered 403 Forbidden"},
			{in(InAnswered), ""},
		}, SessionEnded},
		{"answer without sendonly", Dynamic, []step{
			{withCall(InStart, c1), "send-invite " + c1.ID},
			{because(InBadAnswer, "sdp: direction sendrecv"), "report: unusable answer: sdp: direction sendrecv; send-ack; send-bye"},
			{in(InByeDone), "finish: unusable answer: sdp: direction sendrecv"},
		}, SessionEnded},
		{"keep-alive: UPDATE fails, re-INVITE refreshes, keep-alive goes on (spec §3.2.2)", Dynamic, []step{
			{withCall(InStart, c1), "send-invite " + c1.ID},
			{in(InAnswered), "open-recording " + c1.ID + "; send-ack; arm-keep-alive"},
			{in(InKeepAliveDue), "send-update"},
			{because(InKeepAliveFailed, "timeout"), "report: keep-alive UPDATE failed: timeout, re-INVITE as session refresher (spec §3.2.2); send-re-invite"},
			{in(InKeepAliveDue), ""}, // the refresher's outcome re-arms
			{in(InRefreshOK), "arm-keep-alive"},
			{in(InKeepAliveDue), "send-update"},
		}, SessionRecording},
		{"recovery: re-INVITE fails too, new INVITE, the same file goes on (spec §3.2.2)", Dynamic, []step{
			{withCall(InStart, c1), "send-invite " + c1.ID},
			{in(InAnswered), "open-recording " + c1.ID + "; send-ack; arm-keep-alive"},
			{in(InKeepAliveDue), "send-update"},
			{because(InKeepAliveFailed, "timeout"), "report: keep-alive UPDATE failed: timeout, re-INVITE as session refresher (spec §3.2.2); send-re-invite"},
			{because(InRefreshFailed, "timeout"), "report: session refresher re-INVITE failed: timeout, recovery with a new INVITE (spec §3.2.2); recover"},
			{in(InAnswered), "send-ack; arm-keep-alive"}, // no open-recording: the call's file is still open
			// spec §3.2: the phone forks until it gets the BYE, so the file
			// stays open until the BYE is answered.
			{withCall(InCallCleared, c1), "send-bye"},
			{in(InByeDone), "drain-recording " + c1.ID},
			{withCall(InDrained, c1), "close-recording " + c1.ID + ": call cleared; finish: call cleared"},
		}, SessionEnded},
		{"dead phone: recovery INVITE unanswered, file closed, session dropped (spec §3.2.4)", Static, []step{
			{withCall(InStart, c1), "send-invite " + c1.ID},
			{in(InAnswered), "open-recording " + c1.ID + "; send-ack; arm-keep-alive"},
			{in(InKeepAliveDue), "send-update"},
			{because(InKeepAliveFailed, "timeout"), "report: keep-alive UPDATE failed: timeout, re-INVITE as session refresher (spec §3.2.2); send-re-invite"},
			{because(InRefreshFailed, "timeout"), "report: session refresher re-INVITE failed: timeout, recovery with a new INVITE (spec §3.2.2); recover"},
			{because(InRejected, "no answer within 1s"), "close-recording " + c1.ID + ": " + ReasonNoAnswer +
				"; report: recovery INVITE failed: no answer within 1s; finish: " + ReasonNoAnswer},
		}, SessionEnded},
		{"dynamic: call clears during recovery, BYE once the new INVITE is answered", Dynamic, []step{
			{withCall(InStart, c1), "send-invite " + c1.ID},
			{in(InAnswered), "open-recording " + c1.ID + "; send-ack; arm-keep-alive"},
			{in(InKeepAliveDue), "send-update"},
			{because(InKeepAliveFailed, "timeout"), "report: keep-alive UPDATE failed: timeout, re-INVITE as session refresher (spec §3.2.2); send-re-invite"},
			{because(InRefreshFailed, "481"), "report: session refresher re-INVITE failed: 481, recovery with a new INVITE (spec §3.2.2); recover"},
			{withCall(InCallCleared, c1), "drain-recording " + c1.ID},
			{withCall(InDrained, c1), "close-recording " + c1.ID + ": call cleared"},
			{in(InAnswered), "send-ack; send-bye"},
			{in(InByeDone), "finish: call cleared"},
		}, SessionEnded},
		{"static: calls change files while refreshing; stop sends BYE in the old dialog", Static, []step{
			{withCall(InStart, c1), "send-invite " + c1.ID},
			{in(InAnswered), "open-recording " + c1.ID + "; send-ack; arm-keep-alive"},
			{in(InKeepAliveDue), "send-update"},
			{because(InKeepAliveFailed, "timeout"), "report: keep-alive UPDATE failed: timeout, re-INVITE as session refresher (spec §3.2.2); send-re-invite"},
			{withCall(InCallStarted, c2), "close-recording " + c1.ID + ": next call started; open-recording " + c2.ID},
			{because(InStop, ReasonOutOfService), "drain-recording " + c2.ID + "; send-bye"},
			{in(InRefreshFailed), ""},
			{in(InByeDone), ""}, // the file still drains
			{withCall(InDrained, c2), "close-recording " + c2.ID + ": device out of service; finish: device out of service"},
		}, SessionEnded},
		{"static: stop during recovery ends without BYE when the INVITE fails", Static, []step{
			{withCall(InStart, c1), "send-invite " + c1.ID},
			{in(InAnswered), "open-recording " + c1.ID + "; send-ack; arm-keep-alive"},
			{in(InKeepAliveDue), "send-update"},
			{because(InKeepAliveFailed, "timeout"), "report: keep-alive UPDATE failed: timeout, re-INVITE as session refresher (spec §3.2.2); send-re-invite"},
			{because(InRefreshFailed, "timeout"), "report: session refresher re-INVITE failed: timeout, recovery with a new INVITE (spec §3.2.2); recover"},
			{because(InStop, ReasonClosed), "close-recording " + c1.ID + ": recorder closed"},
			{because(InRejected, "timeout"), "report: recovery INVITE failed: timeout; finish: recorder closed"},
		}, SessionEnded},
		{"static: session started at BackInService without a call", Static, []step{
			{in(InStart), "send-invite"},
			{in(InAnswered), "send-ack; arm-keep-alive"},
			{withCall(InCallStarted, c1), "open-recording " + c1.ID},
		}, SessionRecording},
		{"static: a file per call, session kept, BYE at out of service", Static, []step{
			{withCall(InStart, c1), "send-invite " + c1.ID},
			{in(InAnswered), "open-recording " + c1.ID + "; send-ack; arm-keep-alive"},
			{withCall(InCallStarted, c1), ""},
			// The phone stopped forking with its call; its last copies
			// are on the wire: the file drains, the session stays.
			{withCall(InCallCleared, c1), "drain-recording " + c1.ID},
			{withCall(InDrained, c1), "close-recording " + c1.ID + ": call cleared"},
			{withCall(InCallStarted, c2), "open-recording " + c2.ID},
			{withCall(InCallCleared, c2), "drain-recording " + c2.ID},
			// The next call starts while the previous file drains: it
			// closes at once, the new call's copies go to the new file.
			{withCall(InCallStarted, c1), "close-recording " + c2.ID + ": call cleared; open-recording " + c1.ID},
			{withCall(InDrained, c2), ""},
			{withCall(InCallCleared, c1), "drain-recording " + c1.ID},
			{withCall(InDrained, c1), "close-recording " + c1.ID + ": call cleared"},
			{because(InStop, ReasonOutOfService), "send-bye"},
			{in(InPhoneBye), "finish: device out of service"}, // BYEs crossed
			{in(InByeDone), ""},
		}, SessionEnded},
		{"static: next call while one is open", Static, []step{
			{withCall(InStart, c1), "send-invite " + c1.ID},
			{in(InAnswered), "open-recording " + c1.ID + "; send-ack; arm-keep-alive"},
			{withCall(InCallStarted, c2), "close-recording " + c1.ID + ": next call started; open-recording " + c2.ID},
			{because(InStop, ReasonClosed), "close-recording " + c2.ID + ": recorder closed; send-bye"},
			{in(InByeDone), "finish: recorder closed"},
		}, SessionEnded},
		{"static: first call cleared before the answer, session still comes up", Static, []step{
			{withCall(InStart, c1), "send-invite " + c1.ID},
			{withCall(InCallCleared, c1), ""},
			{in(InAnswered), "send-ack; arm-keep-alive"},
			{withCall(InCallStarted, c2), "open-recording " + c2.ID},
			{in(InPhoneBye), "drain-recording " + c2.ID},
			{withCall(InDrained, c2), "close-recording " + c2.ID + ": phone sent BYE; finish: phone sent BYE"},
		}, SessionEnded},
		{"static: a newer call while inviting is the one recorded", Static, []step{
			{withCall(InStart, c1), "send-invite " + c1.ID},
			{withCall(InCallStarted, c2), ""},
			{in(InAnswered), "open-recording " + c2.ID + "; send-ack; arm-keep-alive"},
		}, SessionRecording},
		{"stop while inviting", Static, []step{
			{withCall(InStart, c1), "send-invite " + c1.ID},
			{because(InStop, ReasonClosed), ""},
			{in(InAnswered), "send-ack; send-bye"},
			{in(InByeDone), "finish: recorder closed"},
		}, SessionEnded},
		{"stop before start", Dynamic, []step{
			{because(InStop, ReasonClosed), "finish: recorder closed"},
			{withCall(InStart, c1), ""},
		}, SessionEnded},
		{"inputs before start change nothing", Dynamic, []step{
			{in(InAnswered), ""},
			{in(InKeepAliveDue), ""},
			{in(InPhoneBye), ""},
		}, SessionIdle},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := NewSession(tc.mapping)
			for i, st := range tc.steps {
				before := s.State()
				var got []string
				for _, a := range s.Step(st.in) {
					got = append(got, a.String())
				}
				var want []string
				if st.want != "" {
					want = strings.Split(st.want, "; ")
				}
				if !slices.Equal(got, want) {
					t.Errorf("step %d: %s in %s:\n got  %q\n want %q", i, st.in, before, got, want)
				}
			}
			if s.State() != tc.final {
				t.Errorf("final state %s, want %s", s.State(), tc.final)
			}
		})
	}
}

func TestNames(t *testing.T) {
	for s := SessionIdle; s <= SessionEnded; s++ {
		if strings.HasPrefix(s.String(), "state(") {
			t.Errorf("state %d has no name", s)
		}
	}
	for k := InStart; k <= InRefreshFailed; k++ {
		if strings.HasPrefix(k.String(), "input(") {
			t.Errorf("input %d has no name", k)
		}
	}
	for k := ActSendInvite; k <= ActRecover; k++ {
		if strings.HasPrefix(k.String(), "action(") {
			t.Errorf("action %d has no name", k)
		}
	}
	for _, s := range []string{"dynamic", "Static", " static "} {
		if _, err := ParseMapping(s); err != nil {
			t.Errorf("ParseMapping(%q): %v", s, err)
		}
	}
	if _, err := ParseMapping("sometimes"); err == nil {
		t.Error("ParseMapping(sometimes) did not fail")
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		cfg  Config
		want string // substring of the error, "" for none
	}{
		{Config{}, ""},
		{Config{Monitored: []string{"1001", "1002"}, Mapping: Static}, ""},
		{Config{RTPPort: 20001}, "Config.RTPPort 20001 is odd"},
		{Config{Monitored: []string{"1001", "1001"}}, `Config.Monitored[1] "1001" is listed twice`},
		{Config{Monitored: []string{""}}, "Config.Monitored[0] is empty"},
		{Config{Monitored: []string{"10 01"}}, `Config.Monitored[0] "10 01"`},
		{Config{Mapping: 7}, "Config.Mapping mapping(7)"},
		{Config{KeepAlive: -1}, "Config.KeepAlive -1ns is negative"},
		{Config{AnswerTimeout: -1}, "Config.AnswerTimeout -1ns is negative"},
		{Config{InviteRetransmit: -2}, "Config.InviteRetransmit -2ns is negative"},
	}
	for _, tc := range tests {
		err := tc.cfg.withDefaults().validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%+v: %v", tc.cfg, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%+v: error %v, want one containing %q", tc.cfg, err, tc.want)
		}
	}
}

func TestDrainGrace(t *testing.T) {
	ms := time.Millisecond
	for _, tc := range []struct{ sip, fork, want time.Duration }{
		{0, 0, drainMin},              // nothing measured: the floor
		{1 * ms, 5 * ms, drainMin},    // loopback: the floor
		{2 * ms, 110 * ms, 240 * ms},  // slow media path: 2 × 110 ms + 20 ms
		{150 * ms, 20 * ms, 320 * ms}, // slow signalling
		{1500 * ms, 0, drainMax},      // bounded
	} {
		if got := drainGrace(tc.sip, tc.fork); got != tc.want {
			t.Errorf("drainGrace(%s, %s) = %s, want %s", tc.sip, tc.fork, got, tc.want)
		}
	}
}
