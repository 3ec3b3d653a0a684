package media

import (
	"testing"
	"time"
)

// The per-packet functions must not allocate (doc.go, "Hot path").
func TestHotPathDoesNotAllocate(t *testing.T) {
	pcm := make([]int16, FrameSamples)
	payload := make([]byte, FrameSamples)
	buf := make([]byte, 0, 1500)
	out := make([]byte, 0, 1500)
	tone := NewTone(ToneFrequency(7), 8000)
	snd := NewSender(1, 0, 0, PCMA)
	fork := NewForker(2, 0)
	pkt := snd.Packet(nil, payload, false)

	tests := []struct {
		name string
		f    func()
	}{
		{"Tone.Next", func() { tone.Next(pcm) }},
		{"Loop.Next", func() { loopForAllocTest.Next(pcm) }},
		{"PCMA.EncodeFrame", func() { payload = PCMA.EncodeFrame(payload, pcm) }},
		{"PCMU.EncodeFrame", func() { payload = PCMU.EncodeFrame(payload, pcm) }},
		{"PCMA.DecodeFrame", func() { pcm = PCMA.DecodeFrame(pcm, payload) }},
		{"PCMU.DecodeFrame", func() { pcm = PCMU.DecodeFrame(pcm, payload) }},
		{"Sender.Packet", func() { buf = snd.Packet(buf, payload, false) }},
		{"Sender.EncodePacket", func() { buf = snd.EncodePacket(buf, pcm, false) }},
		{"ParseHeader", func() { _, _, _ = ParseHeader(pkt) }},
		{"Forker.Rewrite", func() { out, _ = fork.Rewrite(out, pkt) }},
	}
	for _, tt := range tests {
		if n := testing.AllocsPerRun(1000, tt.f); n != 0 {
			t.Errorf("%s: %v allocations per call", tt.name, n)
		}
	}
}

var loopForAllocTest = NewLoop(make([]int16, 1000))

func TestStereoWAVPushDoesNotAllocate(t *testing.T) {
	// Loss, duplicates, reordering, a telephone-event and sequence
	// wraparound all take their paths without allocating.
	s := newStream(1, 65000, 0, PCMA, 1000)
	var pkts [][]byte
	for i := range 2000 {
		p := s.next()
		switch {
		case i%50 == 7: // lost
		case i%50 == 9: // duplicated
			pkts = append(pkts, p, p)
		case i%50 == 11: // arrives after the next one
			q := s.next()
			pkts = append(pkts, q, p)
		case i%50 == 20:
			ev := NewSender(1, s.snd.Seq(), s.snd.Timestamp(), TelephoneEventPT)
			pkts = append(pkts, p, ev.Packet(nil, []byte{1, 0x0a, 0, 160}, false))
			s.snd.seq++
		default:
			pkts = append(pkts, p)
		}
	}
	rx := newStream(2, 0, 0, PCMU, 2000)
	rxPkts := rx.packets(len(pkts))

	f := &memFile{b: make([]byte, 0, 8<<20)}
	w, err := NewStereoWAV(f)
	if err != nil {
		t.Fatal(err)
	}
	i := 0
	push := func() {
		if err := w.Push(ChannelTX, pkts[i%len(pkts)]); err != nil {
			t.Fatal(err)
		}
		if err := w.PushAt(ChannelRX, rxPkts[i%len(rxPkts)], time.Duration(i)*20*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		i++
	}
	if n := testing.AllocsPerRun(len(pkts)-1, push); n != 0 {
		t.Errorf("Push: %v allocations per packet", n)
	}
	if st := w.Stats(ChannelTX); st.Duplicates == 0 || st.Reordered == 0 || st.Lost == 0 {
		t.Errorf("the test did not exercise every path: %+v", st)
	}
}
