package recorder

import (
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/reclab/reclab/pbx/csta"
	"github.com/reclab/reclab/sim"
	"github.com/reclab/reclab/sim/media"
)

func readMeta(t *testing.T, path string) Meta {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m Meta
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return m
}

func TestDynamicRecording(t *testing.T) {
	l := newLab(t, 1, Config{Monitored: []string{"1001"}})
	l.register(t)
	if d := l.rec.Devices()["1001"]; d.RecordingPort != 7300 || d.Model != "7434" || d.IP != l.phone.node.Addr() {
		t.Fatalf("device table: %v", d)
	}

	callID := csta.FormatCallID(42)
	l.established(callID)
	l.established(callID) // a duplicate: still one INVITE
	inv := recv(t, l.phone.invites, "INVITE")
	if got, want := inv.Recipient.String(), "sip:1001@"+l.phone.node.Addr().String()+":7300"; got != want {
		t.Errorf("INVITE to %s, want %s", got, want)
	}
	if got, want := inv.Source(), l.recNode.AddrPort(5060).String(); got != want {
		t.Errorf("INVITE from %s, want %s (the recorder's SIP stack)", got, want)
	}
	offer := recv(t, l.phone.acked, "ACK")
	if offer.TX.Addr() != l.recNode.Addr() || offer.TX.Port()%2 != 0 || offer.RX.Port()%2 != 0 || offer.TX == offer.RX {
		t.Errorf("offer tx %s rx %s: want two even ports on the recorder", offer.TX, offer.RX)
	}
	if offer.TX.Port() != DefaultRTPPort {
		t.Errorf("first tx port %d, want %d", offer.TX.Port(), DefaultRTPPort)
	}
	recv(t, l.phone.updates, "keep-alive UPDATE")
	if l.rec.Sessions() != 1 {
		t.Errorf("Sessions() = %d, want 1", l.rec.Sessions())
	}

	l.media(t, offer, 50, 40, 10, 11)

	closed := watchNote(l.net, "recorder", "recording "+callID+"-1001 closed")
	ended := watchNote(l.net, "recorder", "recording session "+callID+"-1001 ended: call cleared")
	l.cleared(callID)
	recv(t, l.phone.byes, "BYE at the phone")
	waitFor(t, closed, "recording closed")
	none(t, l.phone.invites, "second INVITE")

	recs := l.rec.Recordings()
	if len(recs) != 1 {
		t.Fatalf("%d recordings, want 1", len(recs))
	}
	r := recs[0]
	if filepath.Base(r.WAV) != callID+"-1001.wav" || filepath.Base(r.JSON) != callID+"-1001.json" {
		t.Errorf("files %s %s", r.WAV, r.JSON)
	}
	m := readMeta(t, r.JSON)
	if m.CallID != callID || m.Calling != "1001" || m.Called != "1002" || m.Extension != "1001" ||
		m.Model != "7434" || m.PhoneIP != l.phone.node.Addr().String() || m.RecordingPort != 7300 ||
		m.Reason != ReasonCallCleared || m.Codec != "PCMA" || m.Mapping != "dynamic" {
		t.Errorf("meta: %+v", m)
	}
	if m.TX.Received != 48 || m.TX.Expected != 50 || m.TX.Lost != 2 || m.TX.Duplicates != 0 {
		t.Errorf("tx stats %+v, want 48 of 50 received, 2 lost", m.TX)
	}
	if m.RX.Received != 40 || m.RX.Expected != 40 || m.RX.Lost != 0 {
		t.Errorf("rx stats %+v, want 40 of 40", m.RX)
	}
	if m.Start.IsZero() || m.Stop.Before(m.Start) {
		t.Errorf("start %s stop %s", m.Start, m.Stop)
	}
	f, err := os.Open(r.WAV)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	left, right, rate, err := media.ReadWAV(f)
	if err != nil {
		t.Fatal(err)
	}
	// 50 tx packets of 160 samples with the two lost ones as silence. The
	// phone sent them in a burst, so where each channel starts depends on
	// when its first packet was read; look at the shape of the tone instead.
	if rate != media.SampleRate || right == nil || len(left) < 50*media.FrameSamples {
		t.Fatalf("WAV: rate %d, %d samples, stereo %v", rate, len(left), right != nil)
	}
	if span, gap := toneShape(left); span < 50*media.FrameSamples-2 || span > 50*media.FrameSamples || gap < 320 || gap > 324 {
		t.Errorf("tx channel: tone over %d samples with a gap of %d; want 8000 with a 320-sample gap (packets 10, 11 lost)", span, gap)
	}
	if span, gap := toneShape(right); span < 40*media.FrameSamples-2 || span > 40*media.FrameSamples || gap > 4 {
		t.Errorf("rx channel: tone over %d samples with a gap of %d; want 6400 without gaps", span, gap)
	}
	waitFor(t, ended, "session ended")
	if l.rec.Sessions() != 0 {
		t.Errorf("Sessions() = %d after BYE, want 0", l.rec.Sessions())
	}
}

// toneShape returns the span from the first to the last non-zero sample and
// the longest run of zeros inside it.
func toneShape(x []int16) (span, gap int) {
	first, last := -1, -1
	for i, v := range x {
		if v != 0 {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	if first < 0 {
		return 0, 0
	}
	run := 0
	for _, v := range x[first : last+1] {
		if v == 0 {
			run++
			gap = max(gap, run)
		} else {
			run = 0
		}
	}
	return last - first + 1, gap
}

func TestStaticMapping(t *testing.T) {
	l := newLab(t, 2, Config{Monitored: []string{"1001"}, Mapping: Static})
	l.register(t)

	c1, c2, c3 := csta.FormatCallID(1), csta.FormatCallID(2), csta.FormatCallID(3)
	l.established(c1)
	recv(t, l.phone.invites, "INVITE")
	offer := recv(t, l.phone.acked, "ACK")
	l.media(t, offer, 20, 20)
	closed := watchNote(l.net, "recorder", "recording "+c1+"-1001 closed")
	l.cleared(c1)
	waitFor(t, closed, "first call's recording closed")

	// The second call rides the same session: no INVITE, a new file.
	opened := watchNote(l.net, "recorder", "recording "+c2+"-1001 started")
	l.established(c2)
	waitFor(t, opened, "second call's recording")
	none(t, l.phone.invites, "INVITE for the second call")
	none(t, l.phone.byes, "BYE between calls")
	l.media(t, offer, 30, 30)

	// The phone unregisters mid-call and says BYE (spec §3.2).
	ended := watchNote(l.net, "recorder", "recording session 1001 ended: phone sent BYE")
	closed2 := watchNote(l.net, "recorder", "recording "+c2+"-1001 closed")
	l.phone.bye(t)
	waitFor(t, ended, "session ended by the phone")
	waitFor(t, closed2, "second call's recording finished (files are finished off the loop)")

	// Back in service, next call: a new session; out of service: BYE.
	l.register(t)
	l.established(c3)
	recv(t, l.phone.invites, "INVITE after re-registration")
	recv(t, l.phone.acked, "ACK")
	ended3 := watchNote(l.net, "recorder", "recording session 1001 ended: device out of service")
	closed3 := watchNote(l.net, "recorder", "recording "+c3+"-1001 closed")
	l.pbx.event(csta.OutOfServiceEvent{CrossRefID: l.pbx.ref("1001"), Device: "1001"})
	recv(t, l.phone.byes, "BYE at out of service")
	waitFor(t, ended3, "third session ended")
	waitFor(t, closed3, "third recording finished (files are finished off the loop)")
	if _, ok := l.rec.Devices()["1001"]; ok {
		t.Error("1001 still in the device table after OutOfServiceEvent")
	}

	recs := l.rec.Recordings()
	if len(recs) != 3 {
		t.Fatalf("%d recordings, want 3", len(recs))
	}
	for i, want := range []struct {
		call, reason string
		packets      int64
	}{{c1, ReasonCallCleared, 40}, {c2, ReasonPhoneBye, 60}, {c3, ReasonOutOfService, 0}} {
		m := readMeta(t, recs[i].JSON)
		if m.CallID != want.call || m.Reason != want.reason || m.Packets() != want.packets || m.Mapping != "static" {
			t.Errorf("recording %d: call %s reason %q packets %d, want %s %q %d", i, m.CallID, m.Reason, m.Packets(), want.call, want.reason, want.packets)
		}
	}
	if recs[0].Meta.SIPCallID != recs[1].Meta.SIPCallID || recs[1].Meta.SIPCallID == recs[2].Meta.SIPCallID {
		t.Errorf("SIP sessions: calls 1 and 2 must share one, call 3 must have its own")
	}
}

func TestCSTALink(t *testing.T) {
	// The recorder drops a link whose SystemStatus goes unanswered for a
	// keep-alive interval: a second, as a loaded machine may take 100 ms
	// to answer (the fake PBX answers at once).
	l := newLab(t, 3, Config{Monitored: []string{"1001", "1002"}, CSTAKeepAlive: time.Second})

	// Keep-alive both ways.
	recv(t, l.pbx.statuses, "SystemStatus from the recorder")
	l.pbx.send(77, csta.SystemStatus{Status: csta.StatusNormal})
	if id := recv(t, l.pbx.answers, "SystemStatusResponse"); id != 77 {
		t.Errorf("SystemStatusResponse %04d, want 0077", id)
	}

	// A malformed frame is reported; the link goes on.
	bad := watchError(l.net, "CSTA frame")
	frame, _ := csta.AppendFrame(nil, csta.EventInvokeID, []byte("<EstablishedEvent><oops"))
	l.pbx.raw(frame)
	waitFor(t, bad, "error for the malformed frame")
	l.register(t)

	// Link loss: reconnect and monitor again.
	lost := watchError(l.net, "CSTA link")
	l.pbx.drop()
	waitFor(t, lost, "link loss reported")
	got := map[string]bool{}
	for range 2 {
		got[recv(t, l.pbx.monitors, "MonitorStart after reconnect")] = true
	}
	if !got["1001"] || !got["1002"] {
		t.Errorf("monitors after reconnect: %v", got)
	}
	if _, ok := l.rec.Devices()["1001"]; !ok {
		t.Error("device table lost on reconnect")
	}
	// Events on the new link reach the recorder.
	l.register(t)
}

func TestUnusableAnswer(t *testing.T) {
	l := newLab(t, 4, Config{Monitored: []string{"1001"}})
	l.phone.answer = func(o media.RecordingOffer) []byte {
		// sendrecv instead of sendonly: not a recording answer.
		b, _ := media.BuildRecordingAnswer(o, 7, l.phone.node.Addr(), 40100, 40102, media.PCMA)
		return []byte(strings.ReplaceAll(string(b), "a=sendonly", "a=sendrecv"))
	}
	l.register(t)
	reported := watchError(l.net, "unusable answer")
	ended := watchNote(l.net, "recorder", "ended: unusable answer")
	l.established(csta.FormatCallID(5))
	recv(t, l.phone.invites, "INVITE")
	recv(t, l.phone.byes, "BYE after an unusable answer")
	waitFor(t, reported, "error for the unusable answer")
	waitFor(t, ended, "session ended")
	if n := len(l.rec.Recordings()); n != 0 {
		t.Errorf("%d recordings, want none", n)
	}
}

func TestUnknownDevice(t *testing.T) {
	l := newLab(t, 5, Config{Monitored: []string{"1001"}})
	w := watchError(l.net, "no address known for 1001")
	l.established(csta.FormatCallID(6))
	waitFor(t, w, "error for a call of a device with no address")
	none(t, l.phone.invites, "INVITE")
}

func TestCloseEndsSessions(t *testing.T) {
	l := newLab(t, 6, Config{Monitored: []string{"1001"}})
	l.register(t)
	callID := csta.FormatCallID(7)
	l.established(callID)
	offer := recv(t, l.phone.acked, "ACK")
	l.media(t, offer, 10, 10)
	if err := l.rec.Close(); err != nil {
		t.Fatal(err)
	}
	recv(t, l.phone.byes, "BYE at close")
	recs := l.rec.Recordings()
	if len(recs) != 1 || recs[0].Meta.Reason != ReasonClosed || recs[0].Meta.Packets() != 20 {
		t.Fatalf("recordings after close: %+v", recs)
	}
	if l.rec.Sessions() != 0 {
		t.Errorf("Sessions() = %d after Close", l.rec.Sessions())
	}
	if err := l.rec.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if l.net.Trace().Count(sim.KindError) != 0 {
		for _, e := range l.net.Trace().Recent() {
			if e.Kind == sim.KindError {
				t.Errorf("trace error: %s", e)
			}
		}
	}
}

// The packet path must not allocate (one reader per socket, a reused
// buffer, StereoWAV into a buffered file).
func TestSinkPushDoesNotAllocate(t *testing.T) {
	n, err := sim.NewNetwork(sim.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	disk := newDiskWriter()
	defer disk.stop()
	f, err := createRecording(t.TempDir(), csta.FormatCallID(1), "1001", disk)
	if err != nil {
		t.Fatal(err)
	}
	s := &sink{net: n, node: "recorder", owner: "test"}
	s.swap(f.wav)
	snd := media.NewSender(1, 0, 0, media.PCMA)
	pcm := make([]int16, media.FrameSamples)
	media.NewTone(800, 8000).Next(pcm)
	pkt := make([]byte, 0, 256)
	src := netip.MustParseAddrPort("127.21.0.10:40000")
	allocs := testing.AllocsPerRun(2000, func() {
		pkt = snd.EncodePacket(pkt, pcm, false)
		s.push(media.ChannelTX, pkt, src)
	})
	if allocs != 0 {
		t.Errorf("%.1f allocations per packet, want 0", allocs)
	}
	s.swap(nil)
	f.meta.TX = f.wav.Stats(media.ChannelTX)
	if _, err := f.finish(); err != nil {
		t.Fatal(err)
	}
	if f.meta.TX.Received != 2001 {
		t.Errorf("%d packets received, want 2001", f.meta.TX.Received)
	}
}

// TestAckDoesNotWaitForTheFile holds every file open back (a disk slower
// than the SIP round trip): the ACK still goes out at the 200 OK, the
// phone's first forked packets are held while the file opens, and they are
// all in the recording once it is open (issue 14 item 3: set-up never
// waits on the disk).
func TestAckDoesNotWaitForTheFile(t *testing.T) {
	l := newLab(t, 1, Config{Monitored: []string{"1001"}})
	gate := make(chan struct{})
	l.rec.files.openGate.Store(&gate)
	opened := false
	defer func() {
		if !opened {
			close(gate) // let Close finish the worker's open
		}
	}()
	l.register(t)
	started := sim.WatchState(l.net.Trace(), func(s RecordingStarted) bool { return s.Ext == "1001" })
	closed := sim.WatchState(l.net.Trace(), func(s RecordingClosed) bool { return s.Meta.Extension == "1001" })

	callID := csta.FormatCallID(7)
	l.established(callID)
	recv(t, l.phone.invites, "INVITE")
	offer := recv(t, l.phone.acked, "ACK while the file is still being opened")
	l.media(t, offer, 30, 20) // every packet held: l.media waits for each
	select {
	case <-started.C:
		t.Fatal("recording started while its open was held back")
	default:
	}

	close(gate)
	opened = true
	waitFor(t, started, "recording started")
	l.cleared(callID)
	recv(t, l.phone.byes, "BYE at the phone")
	rec := waitFor(t, closed, "recording closed").State.(RecordingClosed).Recording
	if m := rec.Meta; m.TX.Received != 30 || m.RX.Received != 20 || m.TX.Lost != 0 || m.RX.Lost != 0 {
		t.Errorf("tx %+v rx %+v: want the 30 and 20 packets forked before the file was open, none lost", m.TX, m.RX)
	}
}

// TestCallEndsBeforeItsFileOpens holds the file's open back until the
// call has cleared and its recording session ended: the packets the phone
// forked meanwhile were held, and they go into the file once it is open
// instead of being dropped with the session.
func TestCallEndsBeforeItsFileOpens(t *testing.T) {
	l := newLab(t, 1, Config{Monitored: []string{"1001"}})
	gate := make(chan struct{})
	l.rec.files.openGate.Store(&gate)
	opened := false
	defer func() {
		if !opened {
			close(gate)
		}
	}()
	l.register(t)
	ended := sim.WatchState(l.net.Trace(), func(s SessionChanged) bool { return s.Ext == "1001" && s.Cause == ReasonCallCleared })
	closed := sim.WatchState(l.net.Trace(), func(s RecordingClosed) bool { return s.Meta.Extension == "1001" })

	callID := csta.FormatCallID(8)
	l.established(callID)
	recv(t, l.phone.invites, "INVITE")
	offer := recv(t, l.phone.acked, "ACK while the file is still being opened")
	l.media(t, offer, 25, 15)
	l.cleared(callID)
	recv(t, l.phone.byes, "BYE at the phone")
	waitFor(t, ended, "session ended")
	select {
	case e := <-closed.C:
		t.Fatalf("recording closed before its file was open: %v", e)
	default:
	}

	close(gate)
	opened = true
	rec := waitFor(t, closed, "recording closed").State.(RecordingClosed).Recording
	if m := rec.Meta; m.TX.Received != 25 || m.RX.Received != 15 || m.TX.Lost != 0 || m.RX.Lost != 0 || m.Reason != ReasonCallCleared {
		t.Errorf("tx %+v rx %+v reason %q: want the 25 and 15 packets held for the file, none lost, call cleared", m.TX, m.RX, m.Reason)
	}
}
