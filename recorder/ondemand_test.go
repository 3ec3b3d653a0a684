package recorder_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/reclab/reclab/lab"
	"github.com/reclab/reclab/phones"
	"github.com/reclab/reclab/recorder"
	"github.com/reclab/reclab/sim"
)

// Whole-lab tests of record on demand (spec §3.3): PBX, phones and recorder
// from sim/lab on real loopback sockets, each test on its own 127.25.<n>.x
// plan so that it never meets another package's lab (127.20.x.x, 127.21.x.x).

const labWait = 15 * time.Second

// odLab is a running lab with the helpers the tests share.
type odLab struct {
	t   *testing.T
	lab *lab.Lab
	dir string
	ctx context.Context
}

// soapKey is a SOAP 1.1 record-key template (wire.md "Record on demand").
const soapKey = `<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><Record xmlns="urn:reclab:recorder"><Extension>$$SIPUSERNAME$$</Extension><Remote>$$REMOTENUMBER$$</Remote><Name>$$DISPLAYNAME$$</Name></Record></soap:Body></soap:Envelope>`

func startLab(t *testing.T, subnet int, onDemand string, phoneSpecs []lab.PhoneSpec) *odLab {
	t.Helper()
	dir := t.TempDir()
	if keep := os.Getenv("RECLAB_OUT"); keep != "" {
		// Keep the run's pcap, key log and recordings to look at.
		dir = filepath.Join(keep, t.Name())
	}
	topo := lab.Topology{
		PBXAddr:      netip.MustParseAddr(fmt.Sprintf("127.25.%d.1", subnet)),
		RecorderAddr: netip.MustParseAddr(fmt.Sprintf("127.25.%d.2", subnet)),
		PhoneBase:    netip.MustParseAddr(fmt.Sprintf("127.25.%d.11", subnet)),
		Phones:       phoneSpecs,
		Recorder:     lab.RecorderSpec{OnDemand: onDemand, Monitored: []string{"1001", "1002"}},
	}
	l, err := lab.Build(topo, lab.Options{OutDir: dir, Pcap: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	o := &odLab{t: t, lab: l, dir: dir, ctx: ctx}
	t.Cleanup(func() {
		o.close()
		cancel()
	})
	if err := l.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return o
}

// close stops the lab once; the trace goes to the log when the test failed.
func (o *odLab) close() {
	if o.lab == nil {
		return
	}
	events := o.lab.Net.Trace().Recent()
	o.lab.Close()
	if o.t.Failed() || os.Getenv("RECLAB_TRACE") != "" {
		for _, e := range events {
			o.t.Log(e.String())
		}
	}
	o.lab = nil
}

func (o *odLab) phone(name string) *phones.Phone {
	o.t.Helper()
	p, err := o.lab.Phone(name)
	if err != nil {
		o.t.Fatal(err)
	}
	return p
}

func (o *odLab) watch(what string, match func(sim.Event) bool) func() sim.Event {
	w := o.lab.Net.Trace().Watch(match)
	return func() sim.Event {
		o.t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), labWait)
		defer cancel()
		e, err := w.Wait(ctx)
		if err != nil {
			o.t.Fatalf("timed out waiting for %s", what)
		}
		return e
	}
}

func (o *odLab) watchNote(from, text string) func() sim.Event {
	return o.watch(fmt.Sprintf("note from %s %q", from, text), func(e sim.Event) bool {
		return e.Kind == sim.KindNote && e.From == from && strings.Contains(e.Summary, text)
	})
}

// watchClosed waits for ext's next recording whose files are final
// (RecordingClosed: the WAV and JSON written, or removed).
func (o *odLab) watchClosed(ext string) func() sim.Event {
	return o.watch("recording of "+ext+" closed", func(e sim.Event) bool {
		st, ok := e.State.(recorder.RecordingClosed)
		return ok && st.Meta.Extension == ext
	})
}

func (o *odLab) watchError(from, text string) func() sim.Event {
	return o.watch(fmt.Sprintf("error from %s %q", from, text), func(e sim.Event) bool {
		return e.Kind == sim.KindError && e.From == from && strings.Contains(e.Summary, text)
	})
}

func (o *odLab) watchMessage(proto sim.Proto, from, prefix string) func() sim.Event {
	return o.watch(fmt.Sprintf("%s %q from %s", proto, prefix, from), func(e sim.Event) bool {
		return e.Kind == sim.KindMessage && e.Proto == proto && e.From == from && strings.HasPrefix(e.Summary, prefix)
	})
}

// call connects caller to callee and waits until the recorder has seen the
// call established for both monitored parties.
func (o *odLab) call(caller, callee string, established ...func() sim.Event) {
	o.t.Helper()
	ringing := o.watchNote(callee, "ringing from")
	if err := o.phone(caller).Dial(o.ctx, o.phone(callee).Ext()); err != nil {
		o.t.Fatal(err)
	}
	ringing()
	talking := o.watchNote(caller, "talking with")
	if err := o.phone(callee).Answer(); err != nil {
		o.t.Fatal(err)
	}
	talking()
	for _, w := range established {
		w()
	}
}

// press presses the record key and checks the answer's status and text.
func (o *odLab) press(name string, wantStatus int, wantText string) string {
	o.t.Helper()
	status, body, err := o.phone(name).PressRecordKey(o.ctx)
	if err != nil {
		o.t.Fatalf("record key of %s: %v", name, err)
	}
	if status != wantStatus || !strings.Contains(phones.RecordKeyDisplay([]byte(body)), wantText) {
		o.t.Fatalf("record key of %s: %d %q, want %d with %q", name, status, body, wantStatus, wantText)
	}
	return body
}

// forked waits for phone's first forked RTP packet at the recorder.
func (o *odLab) forked(phone string) func() sim.Event {
	return o.watch("RTP from "+phone+" to recorder tx", func(e sim.Event) bool {
		return e.Kind == sim.KindStreamStart && e.From == phone && e.To == "recorder tx"
	})
}

// hangUp ends name's call and waits for closed.
func (o *odLab) hangUp(name string, closed ...func() sim.Event) {
	o.t.Helper()
	if err := o.phone(name).HangUp(o.ctx); err != nil {
		o.t.Fatal(err)
	}
	for _, c := range closed {
		c()
	}
}

// recordingsOf lists the recordings on disk for ext: WAV names.
func (o *odLab) recordingsOf(ext string) []string {
	o.t.Helper()
	wavs, err := filepath.Glob(filepath.Join(o.dir, "recordings", "*-"+ext+".wav"))
	if err != nil {
		o.t.Fatal(err)
	}
	return wavs
}

// hangUpBoth is hangUp that also waits until far has taken the call down,
// so that far can take the next call.
func (o *odLab) hangUpBoth(name, far string, closed ...func() sim.Event) {
	o.t.Helper()
	o.hangUp(name, append(closed, o.watchNote(far, "ended by the far end"))...)
}

func countInvites(events []sim.Event, to string) int {
	n := 0
	for _, e := range events {
		if e.Kind == sim.KindMessage && e.Proto == sim.ProtoSIP && e.From == "recorder" && e.To == to && strings.HasPrefix(e.Summary, "INVITE ") {
			n++
		}
	}
	return n
}

// tshark counts the frames of pcap matching filter; extra options first.
func tshark(t *testing.T, pcap, filter string, opts ...string) int {
	t.Helper()
	return len(tsharkFrames(t, pcap, filter, opts...))
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// tsharkFrames lists the frame numbers of pcap matching filter.
func tsharkFrames(t *testing.T, pcap, filter string, opts ...string) []string {
	t.Helper()
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Fatal("tshark is not installed; .ci/run installs it (apt-get install tshark)")
	}
	args := append(append([]string{"-r", pcap}, opts...), "-Y", filter, "-T", "fields", "-e", "frame.number")
	out, err := exec.Command("tshark", args...).Output()
	if err != nil {
		t.Fatalf("tshark %v: %v", args, err)
	}
	return strings.Fields(string(out))
}

// TestStartOnDemandHTTPGet: start on demand over http with a plain GET
// (spec §3.3, first scenario). No call: 409 and nothing else. During a
// call: 200, then the recorder INVITEs the phone, the phone forks, and the
// recording ends with the call. The other party, not pressed, is not
// recorded. tshark decodes the HTTP requests from the pcap.
func TestStartOnDemandHTTPGet(t *testing.T) {
	o := startLab(t, 1, "start", []lab.PhoneSpec{
		{Name: "7434", Ext: "1001", Model: "7434", Config: map[string]string{"sip line1 display name": "Front Desk"}},
		{Name: "6867i", Ext: "1002", Model: "6867i", Config: map[string]string{"sip local port": "5070"}},
	})

	o.press("7434", 409, "1001 is not on a call")

	o.call("7434", "6867i", o.watchNote("recorder", "of 1002: not recorded until its record key is pressed"),
		o.watchNote("recorder", "of 1001: not recorded until its record key is pressed"))
	if n := countInvites(o.lab.Net.Trace().Recent(), "7434"); n != 0 {
		t.Fatalf("start on demand: %d INVITEs before the key was pressed", n)
	}

	invite := o.watchMessage(sim.ProtoSIP, "recorder", "INVITE sip:1001@127.25.1.11:7300")
	up := o.watchNote("recorder", "-1001 up")
	forked := o.forked("7434")
	o.press("7434", 200, "recording of 1001 started")
	invite()
	up()
	forked()

	closed := o.watchNote("recorder", "-1001 closed (call cleared)")
	bye := o.watchMessage(sim.ProtoSIP, "recorder", "BYE sip:1001@")
	o.hangUpBoth("6867i", "7434", closed, bye)

	recs := o.lab.Recorder.Recordings()
	if len(recs) != 1 || recs[0].Meta.Extension != "1001" || recs[0].Meta.Packets() == 0 {
		t.Fatalf("recordings: %+v, want one of 1001 with packets", recs)
	}
	if got := o.recordingsOf("1002"); len(got) != 0 {
		t.Errorf("1002 never pressed its key but has recordings %v", got)
	}
	if n := countInvites(o.lab.Net.Trace().Recent(), "6867i"); n != 0 {
		t.Errorf("%d INVITEs to 1002, which never pressed", n)
	}
	pcap := filepath.Join(o.dir, "lab.pcapng")
	o.close()
	if n := tshark(t, pcap, `http.request.method == "GET" && http.request.uri contains "OPN=1001" && http.user_agent contains "7434 MAC:"`); n != 2 {
		t.Errorf("pcap: %d record-key GETs decoded, want 2", n)
	}
	// In the right place of the flow: the press, its answer, then the INVITE.
	get := tsharkFrames(t, pcap, `http.request.method == "GET"`)
	invites := tsharkFrames(t, pcap, `sip.Method == "INVITE" && sip.Request-Line contains ":7300"`)
	if len(get) != 2 || len(invites) != 1 || atoi(t, get[1]) > atoi(t, invites[0]) {
		t.Errorf("pcap: GET frames %v, recording INVITE %v: want the second GET before the INVITE", get, invites)
	}
	if n := tshark(t, pcap, `http.response.code == 409`); n != 1 {
		t.Errorf("pcap: %d 409 answers, want 1", n)
	}
	if n := tshark(t, pcap, `_ws.malformed`); n != 0 {
		t.Errorf("pcap: %d malformed frames", n)
	}
}

// TestStartOnDemandHTTPSSOAP: the record key as an https SOAP 1.1 POST,
// verified against the lab CA; the answer is a SOAP envelope and the
// recording follows. A phone that trusts another CA fails visibly, on the
// phone and at the recorder, and nothing is recorded for it. A phone whose
// template is not well-formed gets 400. With the key log, tshark decrypts
// the https POST.
func TestStartOnDemandHTTPSSOAP(t *testing.T) {
	o := startLab(t, 2, "start", []lab.PhoneSpec{
		{Name: "7434", Ext: "1001", Model: "7434", Config: map[string]string{
			"softkey1 value": "https://127.25.2.2:8443/record",
			"softkey1 body":  soapKey,
		}},
		{Name: "6867i", Ext: "1002", Model: "6867i", Config: map[string]string{"sip local port": "5070"}},
		{Name: "6920", Ext: "1003", Model: "6920", Config: map[string]string{
			"softkey1 body": `<RecordRequest><Extension>$$SIPUSERNAME$$</Extension>`,
		}},
	})

	o.call("7434", "6867i", o.watchNote("recorder", "of 1001: not recorded until its record key is pressed"))
	up := o.watchNote("recorder", "-1001 up")
	body := o.press("7434", 200, "recording of 1001 started")
	if !strings.Contains(body, `<RecordResponse xmlns="urn:reclab:recorder"><Result>started</Result><Extension>1001</Extension>`) ||
		!strings.Contains(body, "http://schemas.xmlsoap.org/soap/envelope/") {
		t.Errorf("SOAP answer %q lacks the RecordResponse envelope", body)
	}
	up()

	// A phone that trusts another CA: the handshake fails and says why.
	other, err := sim.NewLabCA("not the lab's CA", time.Now(), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	rogue := newPhone(t, o, "rogue", "127.25.2.50", "1009", other)
	phoneErr := o.watchError("rogue", "certificate signed by unknown authority")
	recErr := o.watchError("recorder", "TLS handshake error")
	if status, _, err := rogue.PressRecordKey(o.ctx); err == nil || !strings.Contains(err.Error(), "x509") {
		t.Fatalf("a phone trusting another CA got %d, %v; want a certificate error", status, err)
	}
	phoneErr()
	recErr()

	// A template that is not well-formed XML: 400 with the reason, no INVITE.
	bad := o.watchError("recorder", "400 Bad Request: body is not well-formed XML")
	o.press("6920", 400, "body is not well-formed XML")
	bad()

	closed := o.watchNote("recorder", "-1001 closed (call cleared)")
	o.hangUpBoth("7434", "6867i", closed)
	if n := countInvites(o.lab.Net.Trace().Recent(), "6920"); n != 0 {
		t.Errorf("%d INVITEs after a refused request", n)
	}
	if got := o.recordingsOf("1001"); len(got) != 1 {
		t.Errorf("recordings of 1001: %v, want 1", got)
	}

	pcap := filepath.Join(o.dir, "lab.pcapng")
	keys := filepath.Join(o.dir, "tls-keys.log")
	o.close()
	tlsOpts := []string{"-o", "tls.keylog_file:" + keys}
	if n := tshark(t, pcap, `tls.handshake.type == 1`, tlsOpts...); n != 2 {
		t.Errorf("pcap: %d TLS ClientHellos, want 2 (the good and the rogue phone)", n)
	}
	if n := tshark(t, pcap, `http.request.method == "POST" && tcp.port == 8443 && http.request.line contains "SOAPAction: \"urn:reclab:recorder#Record\""`, tlsOpts...); n != 1 {
		t.Errorf("pcap: %d decrypted SOAP POSTs on 8443, want 1", n)
	}
	if n := tshark(t, pcap, `http.request.method == "POST" && tcp.port == 8443`); n != 0 {
		t.Errorf("pcap: %d https POSTs readable without the key log, want 0", n)
	}
	if n := tshark(t, pcap, `http.request.method == "POST" && tcp.port == 8080`); n != 1 {
		t.Errorf("pcap: %d plain POSTs on 8080, want 1", n)
	}
}

// newPhone adds a phone outside the topology, trusting ca, with the lab's
// https SOAP record key; it is powered on but not registered (the key needs
// neither registration nor a call to be pressed).
func newPhone(t *testing.T, o *odLab, name, ip, ext string, ca *sim.LabCA) *phones.Phone {
	t.Helper()
	node, err := o.lab.Net.AddNode(name, netip.MustParseAddr(ip))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := phones.ParseConfig(name+".cfg", strings.NewReader(fmt.Sprintf(
		"sip line1 user name: %s\nsip line1 registrar ip: %s\nsoftkey1 type: xml\nsoftkey1 label: Record\nsoftkey1 value: https://%s:8443/record\nsoftkey1 body: %s\n",
		ext, o.lab.Topology.PBXAddr, o.lab.Topology.RecorderAddr, soapKey)))
	if err != nil {
		t.Fatal(err)
	}
	model, _ := phones.LookupModel("7434")
	p, err := phones.New(node, model, cfg, phones.Options{TLS: ca.ClientTLS()})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.PowerOn(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.PowerOff)
	return p
}

// TestSaveOnDemand: every call of a monitored extension is recorded from
// its start; the key press keeps the presser's recording, and recordings
// without a press are deleted at call end with a note (spec §3.3, second
// scenario). Call 1: 1001 presses, so its recording stays (from the call's
// start) and 1002's goes; call 2: nobody presses, both go.
func TestSaveOnDemand(t *testing.T) {
	o := startLab(t, 3, "save", []lab.PhoneSpec{
		{Name: "7434", Ext: "1001", Model: "7434", Config: map[string]string{
			"softkey1 value": "http://127.25.3.2:8080/record?page=SAVE&OPN=$$SIPUSERNAME$$&remote=$$REMOTENUMBER$$",
		}},
		{Name: "6867i", Ext: "1002", Model: "6867i", Config: map[string]string{"sip local port": "5070"}},
	})

	o.press("7434", 409, "1001 is not on a call")

	// Call 1, kept by 1001.
	o.call("7434", "6867i", o.watchNote("recorder", "-1002 up"), o.watchNote("recorder", "-1001 up"), o.forked("7434"))
	pressedAt := o.lab.Net.Epoch().Add(o.lab.Net.Now())
	o.press("7434", 200, "recording of 1001 will be kept")
	o.press("7434", 200, "already kept")
	kept := o.watchNote("recorder", "-1001 kept: record key pressed")
	gone := o.watchNote("recorder", "-1002 discarded: no record-key press")
	o.hangUpBoth("7434", "6867i", kept, gone)

	// Call 2, never pressed.
	o.call("6867i", "7434", o.watchNote("recorder", "-1002 up"), o.watchNote("recorder", "-1001 up"))
	gone1 := o.watchNote("recorder", "-1001 discarded: no record-key press")
	gone2 := o.watchNote("recorder", "-1002 discarded: no record-key press")
	o.hangUpBoth("6867i", "7434", gone1, gone2)

	recs := o.lab.Recorder.Recordings()
	if len(recs) != 1 || recs[0].Meta.Extension != "1001" || recs[0].Meta.Calling != "1001" {
		t.Fatalf("recordings: %+v, want only call 1 of 1001", recs)
	}
	r := recs[0]
	if r.Meta.TX.Received == 0 {
		t.Errorf("kept recording has no packets: %+v", r.Meta)
	}
	for _, f := range []string{r.WAV, r.JSON} {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("kept recording: %v", err)
		}
	}
	if got := o.recordingsOf("1001"); len(got) != 1 {
		t.Errorf("WAVs of 1001 on disk: %v, want the kept one", got)
	}
	if got := o.recordingsOf("1002"); len(got) != 0 {
		t.Errorf("WAVs of 1002 on disk: %v, want none", got)
	}
	for _, ext := range []string{"*.json", "*.xml"} {
		if sides, _ := filepath.Glob(filepath.Join(o.dir, "recordings", ext)); len(sides) != 1 {
			t.Errorf("%s sidecars on disk: %v, want the kept one", ext, sides)
		}
	}
	if !r.Meta.Start.Before(pressedAt) {
		t.Errorf("kept recording starts at %s, after the key press at %s: want the call's start", r.Meta.Start, pressedAt)
	}
}
