package tui

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/reclab/reclab/pbx"
	"github.com/reclab/reclab/pbx/csta"
	"github.com/reclab/reclab/phones"
	"github.com/reclab/reclab/recorder"
	"github.com/reclab/reclab/sim"
)

// fakeBackend is a lab of six phones whose trace the test publishes into
// (upEvents brings them up: powered, registered, known to the recorder); Do
// records the actions instead of doing them.
type fakeBackend struct {
	trace *sim.Trace
	nodes Snapshot // as built
	snap  Snapshot // after upEvents, for the tests of what reads a snapshot
	avail map[ActionKind]bool
	gate  chan struct{} // when set, Start waits for it: the test orders the screen

	mu   sync.Mutex
	done []Action
}

func newFakeBackend() *fakeBackend {
	b := &fakeBackend{trace: sim.NewTrace(1000), avail: map[ActionKind]bool{}}
	// As the real lab: everything.
	for k := ActRegister; k <= ActRecordMode; k++ {
		b.avail[k] = true
	}
	models := []struct{ name, model string }{{"4422", "4422"}, {"7434", "7434"}, {"7444", "7444"}, {"6737i", "6737i"}, {"6867i", "6867i"}, {"6920", "6920"}}
	for i, m := range models {
		port := uint16(7300)
		if i >= 3 {
			port = uint16(5067 + i)
		}
		b.nodes.Phones = append(b.nodes.Phones, PhoneView{Name: m.name, Ext: fmt.Sprint(1001 + i), Model: m.model,
			Addr: netip.AddrFrom4([4]byte{127, 20, 1, byte(i + 1)}), RecPort: port})
	}
	b.nodes.RecMapping = "dynamic"
	st := newNodeStore(b.nodes, b.Media)
	for _, e := range b.upEvents() {
		st.fold(e)
	}
	b.snap = st.snapshot()
	return b
}

// upEvents are the typed states of the lab come up: each phone powered on
// and registered with the PBX, and known to the recorder over CSTA.
func (b *fakeBackend) upEvents() []sim.Event {
	var out []sim.Event
	state := func(from string, st sim.State) {
		out = append(out, sim.Event{Kind: sim.KindState, Proto: sim.ProtoLab, From: from, Summary: st.String(), State: st})
	}
	for _, p := range b.nodes.Phones {
		state(p.Name, phones.PowerState{Phone: p.Name, Ext: p.Ext, On: true})
		state("pbx", pbx.BindingState{Ext: p.Ext, Registered: true, Contact: netip.AddrPortFrom(p.Addr, 5060), Model: p.Model, Cause: "new"})
		state(p.Name, phones.RegistrationState{Phone: p.Name, Ext: p.Ext, Registered: true, Cause: "200 OK, expires 3600s"})
		state("recorder", recorder.DeviceState{Ext: p.Ext, Known: true, Cause: "back-in-service"})
	}
	return out
}

func (b *fakeBackend) Trace() *sim.Trace { return b.trace }
func (b *fakeBackend) Nodes() Snapshot   { return b.nodes }
func (b *fakeBackend) Media() []phones.MediaStats {
	return make([]phones.MediaStats, len(b.nodes.Phones))
}
func (b *fakeBackend) Start(context.Context) error {
	if b.gate != nil {
		<-b.gate
	}
	return nil
}
func (b *fakeBackend) OutDir() string              { return "out/test" }
func (b *fakeBackend) Available(k ActionKind) bool { return b.avail[k] }
func (b *fakeBackend) actions() []Action {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]Action(nil), b.done...)
}
func (b *fakeBackend) Do(_ context.Context, a Action) (string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.done = append(b.done, a)
	if a.Kind == ActAnswer {
		return "", errors.New("phones: " + a.Phone + " is not ringing")
	}
	return fmt.Sprintf("did %s on %s", a.Kind, a.Phone), nil
}

var (
	pbxSIP   = netip.MustParseAddrPort("127.20.0.1:5060")
	pbxCSTA  = netip.MustParseAddrPort("127.20.0.1:8882")
	recSIP   = netip.MustParseAddrPort("127.20.0.2:5060")
	recCSTA  = netip.MustParseAddrPort("127.20.0.2:40001")
	ph7434   = netip.MustParseAddrPort("127.20.1.2:5060")
	ph7434R  = netip.MustParseAddrPort("127.20.1.2:7300")
	ph6867i  = netip.MustParseAddrPort("127.20.1.5:5071")
	ph7434M  = netip.MustParseAddrPort("127.20.1.2:40000")
	ph6867iM = netip.MustParseAddrPort("127.20.1.5:40000")
	recTX    = netip.MustParseAddrPort("127.20.0.2:20000")
)

func sipBytes(first, callID string) []byte {
	return []byte(first + " SIP/2.0\r\nVia: SIP/2.0/UDP 127.20.1.2:5060\r\nCall-ID: " + callID +
		"\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n")
}

func cstaBytes(xml string) []byte {
	b, err := csta.AppendFrame(nil, 9999, []byte(xml))
	if err != nil {
		panic(err)
	}
	return b
}

const establishedXML = `<?xml version="1.0" encoding="UTF-8"?><EstablishedEvent xmlns="http://www.ecma-international.org/standards/ecma-323/csta/ed4"><monitorCrossRefID>2</monitorCrossRefID><establishedConnection><callID>000000000000000000000001</callID><deviceID>1005</deviceID></establishedConnection></EstablishedEvent>`

// sessionEvents is a short call 7434 → 6867i, recorded, with one dropped
// and one resent message, a note and an error: every kind of row.
func sessionEvents() []sim.Event {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	inv := sipBytes("INVITE sip:1005@127.20.0.1", "c1")
	return []sim.Event{
		{At: ms(10), Kind: sim.KindNote, Proto: sim.ProtoLab, From: "pbx", Summary: "PBX up"},
		{At: ms(20), Kind: sim.KindMessage, Proto: sim.ProtoSIP, Src: ph7434, Dst: pbxSIP, From: "7434", To: "pbx", Summary: "REGISTER sip:127.20.0.1", Bytes: sipBytes("REGISTER sip:127.20.0.1", "r1")},
		{At: ms(21), Kind: sim.KindMessage, Proto: sim.ProtoSIP, Src: pbxSIP, Dst: ph7434, From: "pbx", To: "7434", Summary: "200 OK (REGISTER)", Bytes: []byte("SIP/2.0 200 OK\r\nCall-ID: r1\r\nCSeq: 1 REGISTER\r\n\r\n")},
		{At: ms(30), Kind: sim.KindMessage, Proto: sim.ProtoSIP, Src: ph7434, Dst: pbxSIP, From: "7434", To: "pbx", Summary: "INVITE sip:1005@127.20.0.1", Bytes: inv},
		{At: ms(530), Kind: sim.KindMessage, Proto: sim.ProtoSIP, Src: ph7434, Dst: pbxSIP, From: "7434", To: "pbx", Summary: "INVITE sip:1005@127.20.0.1", Bytes: inv},
		{At: ms(31), Kind: sim.KindDropped, Proto: sim.ProtoSIP, Src: pbxSIP, Dst: ph6867i, From: "pbx", To: "6867i", Summary: "INVITE sip:1005@127.20.1.5:5071", Bytes: sipBytes("INVITE sip:1005@127.20.1.5:5071", "c2")},
		{At: ms(540), Kind: sim.KindMessage, Proto: sim.ProtoCSTA, Src: pbxCSTA, Dst: recCSTA, From: "pbx", To: "recorder", Summary: "EstablishedEvent 1002→1005 call 000000000000000000000001", Bytes: cstaBytes(establishedXML)},
		{At: ms(541), Kind: sim.KindMessage, Proto: sim.ProtoSIP, Src: recSIP, Dst: ph7434R, From: "recorder", To: "7434", Summary: "INVITE sip:1002@127.20.1.2:7300", Bytes: sipBytes("INVITE sip:1002@127.20.1.2:7300", "rec1")},
		{At: ms(545), Kind: sim.KindStreamStart, Proto: sim.ProtoRTP, Src: ph7434M, Dst: ph6867iM, From: "7434", To: "6867i", Summary: "RTP stream 127.20.1.2:40000 → 6867i started"},
		{At: ms(560), Kind: sim.KindStreamStart, Proto: sim.ProtoRTP, Src: ph7434M, Dst: recTX, From: "7434", To: "recorder tx", Summary: "RTP stream 127.20.1.2:40000 → recorder tx started"},
		{At: ms(600), Kind: sim.KindError, Proto: sim.ProtoLab, From: "6867i", Summary: "from 127.20.9.9:5060: recording INVITE refused: 403"},
		{At: ms(3560), Kind: sim.KindStreamStop, Proto: sim.ProtoRTP, Src: ph7434M, Dst: recTX, From: "7434", To: "recorder tx", Packets: 150, Summary: "RTP stream 127.20.1.2:40000 → recorder tx stopped (socket closed), 150 packets"},
		{At: ms(3561), Kind: sim.KindMessage, Proto: sim.ProtoHTTP, From: "7434", To: "recorder", Summary: "GET /record?page=START&OPN=1002", Bytes: []byte("GET /record?page=START&OPN=1002 HTTP/1.1\r\nHost: 127.20.0.2:8080\r\n\r\n")},
	}
}
