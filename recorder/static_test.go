package recorder

import (
	"net/netip"
	"testing"

	"github.com/reclab/reclab/pbx/csta"
	"github.com/reclab/reclab/sim"
	"github.com/reclab/reclab/sim/media"
)

// forkingPhone sends what a phone of a static session forks: one
// media.Forker per direction for the session's life, so the recorder sees
// one stream per channel across calls, and a new original stream (new
// SSRC) per call, whose first forked packet carries the marker bit.
type forkingPhone struct {
	t        *testing.T
	l        *lab
	offer    media.RecordingOffer
	conns    [2]*sim.PacketConn
	forks    [2]*media.Forker
	senders  [2]*media.Sender
	tone     *media.Tone
	pcm      []int16
	buf, out []byte
	sent     [2]int // packets of the current call per channel
	forked   int
}

func newForkingPhone(t *testing.T, l *lab, offer media.RecordingOffer) *forkingPhone {
	p := &forkingPhone{t: t, l: l, offer: offer, tone: media.NewTone(1000, 8000), pcm: make([]int16, media.FrameSamples)}
	for ch := range 2 {
		conn, err := l.phone.node.ListenPacket(0)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		p.conns[ch] = conn
		p.forks[ch] = media.NewForker(0xf0+uint32(ch), uint16(60000+ch*1000)) // sequence wraps during the test
	}
	return p
}

// call starts a new call: new original streams on both sides.
func (p *forkingPhone) call(ssrc uint32) {
	for ch := range 2 {
		p.senders[ch] = media.NewSender(ssrc+uint32(ch), uint16(ssrc), ssrc, media.PCMA)
		p.sent[ch] = 0
	}
}

// send forks n packets of channel ch's stream and waits until the
// recorder's sink has each (in a file or held for the next one).
func (p *forkingPhone) send(ch, n int) {
	p.t.Helper()
	dst := p.offer.TX
	if ch == media.ChannelRX {
		dst = p.offer.RX
	}
	for range n {
		p.tone.Next(p.pcm)
		p.buf = p.senders[ch].EncodePacket(p.buf, p.pcm, p.sent[ch] == 0)
		p.sent[ch]++
		var err error
		if p.out, err = p.forks[ch].Rewrite(p.out, p.buf); err != nil {
			p.t.Fatal(err)
		}
		if _, err := p.conns[ch].WriteToAddrPort(p.out, dst); err != nil {
			p.t.Fatal(err)
		}
		p.forked++
	}
	for range n {
		recv(p.t, p.l.packets, "RTP at the recorder")
	}
}

// TestStaticNextCallForksBeforeEstablished is issue 7's finding: in static
// mapping the phone resumes forking at the next call's start, and those
// packets can reach the recorder before its EstablishedEvent does. They are
// held and go into that call's file: every forked packet is recorded, in
// its own call's file, none lost.
func TestStaticNextCallForksBeforeEstablished(t *testing.T) {
	l := newLab(t, 20, Config{Monitored: []string{"1001"}, Mapping: Static})
	l.register(t)
	c1, c2 := csta.FormatCallID(21), csta.FormatCallID(22)

	l.established(c1)
	recv(t, l.phone.invites, "INVITE")
	ph := newForkingPhone(t, l, recv(t, l.phone.acked, "ACK"))
	ph.call(0x1000)
	ph.send(media.ChannelTX, 30)
	ph.send(media.ChannelRX, 30)
	closed1 := watchNote(l.net, "recorder", "recording "+c1+"-1001 closed")
	l.cleared(c1)
	waitFor(t, closed1, "first call's recording closed")

	// The second call starts at the phone: it forks before the PBX's
	// EstablishedEvent has reached the recorder.
	ph.call(0x2000)
	ph.send(media.ChannelTX, 10)
	ph.send(media.ChannelRX, 10)
	opened := watchNote(l.net, "recorder", "recording "+c2+"-1001 started with 20 packets that arrived before it was open (0 of the previous call left out)")
	l.established(c2)
	waitFor(t, opened, "second call's recording, with the early packets")
	ph.send(media.ChannelTX, 20)
	ph.send(media.ChannelRX, 20)
	closed2 := watchNote(l.net, "recorder", "recording "+c2+"-1001 closed")
	l.cleared(c2)
	waitFor(t, closed2, "second call's recording closed")

	recs := l.rec.Recordings()
	if len(recs) != 2 {
		t.Fatalf("%d recordings, want 2", len(recs))
	}
	var recorded int64
	for i, want := range []struct {
		call   string
		tx, rx int64
	}{{c1, 30, 30}, {c2, 30, 30}} {
		m := readMeta(t, recs[i].JSON)
		recorded += m.Packets()
		if m.CallID != want.call || m.TX.Received != want.tx || m.RX.Received != want.rx || m.Lost() != 0 || m.TX.Late+m.RX.Late != 0 {
			t.Errorf("recording %d: call %s, tx %d rx %d received, %d lost, %d late; want call %s, tx %d rx %d, 0 lost, 0 late",
				i, m.CallID, m.TX.Received, m.RX.Received, m.Lost(), m.TX.Late+m.RX.Late, want.call, want.tx, want.rx)
		}
	}
	if recorded != int64(ph.forked) {
		t.Errorf("%d packets recorded of %d forked", recorded, ph.forked)
	}
}

// TestSinkHoldsBetweenCalls: packets with no file installed are held and
// replayed into the next file from each channel's first marked packet on
// (the new call leg); the earlier ones are the previous call's late
// packets and stay out. The bound keeps the first maxHeld.
func TestSinkHoldsBetweenCalls(t *testing.T) {
	n, err := sim.NewNetwork(sim.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	s := &sink{net: n, node: "recorder", owner: "test"}
	src := netip.MustParseAddrPort("127.0.0.1:4000")
	snd := [2]*media.Sender{media.NewSender(1, 100, 0, media.PCMA), media.NewSender(2, 200, 0, media.PCMA)}
	pcm := make([]int16, media.FrameSamples)
	send := func(ch, count int, marker bool) {
		for i := range count {
			s.push(ch, snd[ch].EncodePacket(nil, pcm, marker && i == 0), src)
		}
	}
	send(media.ChannelTX, 2, false) // late packets of the previous call
	send(media.ChannelRX, 1, false)
	send(media.ChannelTX, 5, true) // the next call's first packets
	send(media.ChannelRX, 4, true)
	send(media.ChannelRX, maxHeld, false) // beyond the bound
	disk := newDiskWriter()
	defer disk.stop()
	f, err := createRecording(t.TempDir(), csta.FormatCallID(1), "1001", disk)
	if err != nil {
		t.Fatal(err)
	}
	w := f.wav
	_, _, replayed, stale := s.swap(w)
	wantRX := maxHeld - 2 - 1 - 5 // what fitted after the stale and tx ones
	if replayed != 5+wantRX || stale != 3 {
		t.Errorf("replayed %d, stale %d; want %d, 3", replayed, stale, 5+wantRX)
	}
	if tx, rx := w.Stats(media.ChannelTX), w.Stats(media.ChannelRX); tx.Received != 5 || rx.Received != int64(wantRX) || tx.Lost != 0 || rx.Lost != 0 {
		t.Errorf("tx %d received %d lost, rx %d received %d lost; want 5 0, %d 0", tx.Received, tx.Lost, rx.Received, rx.Lost, wantRX)
	}
	s.swap(nil)
	if _, err := f.finish(); err != nil {
		t.Fatal(err)
	}
	if want := int64(3 + 12); s.unrecorded != want { // 2+1+5+4+maxHeld pushed, maxHeld held
		t.Errorf("unrecorded %d, want %d (stale and over the bound)", s.unrecorded, want)
	}
	if s.held != nil || s.dropHeld() != 0 {
		t.Error("held packets kept after the replay")
	}
}
