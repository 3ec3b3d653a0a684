package recorder

import (
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
)

// Record on demand (spec §3.3): "a function key on the telephone can be used
// to start the recording of each call. There are two scenarios:" the key
// starts the recording (StartOnDemand), or every call is recorded from the
// start and the key orders the recorder to keep it (SaveOnDemand). The
// request itself is parsed in http.go; decideKeyPress below is the pure
// policy; the loop (Recorder.onKeyPress) gathers the facts and acts.

// OnDemand is the recorder's record-on-demand mode (spec §3.3).
type OnDemand uint8

const (
	// OnDemandOff: no record on demand; the mapping's policy alone decides
	// (spec §3.1). A record-key request is answered 403.
	OnDemandOff OnDemand = iota
	// StartOnDemand: a monitored extension's call is recorded only once
	// its record key is pressed; the recorder then runs the same
	// INVITE–UPDATE–BYE sequence as active recording, stopped when the call
	// is cleared (spec §3.3, first scenario).
	StartOnDemand
	// SaveOnDemand: every call of a monitored extension is recorded from
	// its start; a record-key press during the call keeps it, and at call
	// end a recording without a press is deleted (spec §3.3, second
	// scenario).
	SaveOnDemand
)

var onDemandNames = [...]string{"off", "start", "save"}

func (m OnDemand) String() string {
	if int(m) < len(onDemandNames) {
		return onDemandNames[m]
	}
	return fmt.Sprintf("on-demand(%d)", uint8(m))
}

// ParseOnDemand turns "off", "start" or "save" (any case; "" is off) into
// an OnDemand.
func ParseOnDemand(s string) (OnDemand, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return OnDemandOff, nil
	}
	for i, n := range onDemandNames {
		if strings.EqualFold(s, n) {
			return OnDemand(i), nil
		}
	}
	return 0, fmt.Errorf("recorder: unknown record-on-demand mode %q; valid: %s", s, strings.Join(onDemandNames[:], ", "))
}

// DefaultHTTPPort and DefaultHTTPSPort are the record key's endpoints
// (design.md "Address plan").
const (
	DefaultHTTPPort  = 8080
	DefaultHTTPSPort = 8443
)

func (c Config) validateOnDemand() error {
	if c.OnDemand > SaveOnDemand {
		return fmt.Errorf("recorder: Config.OnDemand %s is none of off, start, save", c.OnDemand)
	}
	if c.OnDemand != OnDemandOff && c.Mapping != Dynamic {
		// Spec §3.3: "The recording is stopped when the call is cleared",
		// and a kept recording is one call: a session per call.
		return fmt.Errorf("recorder: Config.OnDemand %s needs dynamic mapping, not %s (spec §3.3: a recording per call)", c.OnDemand, c.Mapping)
	}
	if c.HTTPPort == c.HTTPSPort && c.TLS != nil {
		return fmt.Errorf("recorder: Config.HTTPPort and HTTPSPort are both %d", c.HTTPPort)
	}
	return nil
}

// KeyResult says what a record-key press did, as the answer's XML says it.
type KeyResult uint8

const (
	KeyRefused   KeyResult = iota // nothing done: the status says why
	KeyStarted                    // start on demand: the INVITE is out
	KeyRecording                  // start on demand: the call was already being recorded
	KeyKept                       // save on demand: the call's recording will be kept
	KeyKeptAgain                  // save on demand: it was kept already
)

var keyResultNames = [...]string{"refused", "started", "recording", "kept", "kept"}

func (k KeyResult) String() string {
	if int(k) < len(keyResultNames) {
		return keyResultNames[k]
	}
	return fmt.Sprintf("key-result(%d)", uint8(k))
}

// keyFacts is what the loop knows when a press arrives.
type keyFacts struct {
	mode      OnDemand
	ext       string
	source    netip.Addr // the request's source address
	monitored bool
	device    DeviceInfo
	known     bool // device: a BackInServiceEvent gave the phone's address
	call      Call
	onCall    bool // an Established call of ext not yet cleared
	recording bool // a recording session exists for that call
	kept      bool // save on demand: already kept
}

// keyVerdict is the policy's answer: the HTTP status, the result, the text
// the phone shows, and what the loop must do.
type keyVerdict struct {
	status int
	result KeyResult
	text   string
	start  bool // start a recording session for call
	keep   bool // mark call's recording kept
}

// decideKeyPress is the record-on-demand policy (spec §3.3), pure.
//
//	off                         403  record on demand is off
//	extension not monitored     404
//	source is not the phone     403  (the device table names another address)
//	no call                     409
//	start: recorded already     200  recording
//	start: address unknown      503  (no BackInServiceEvent: no INVITE possible)
//	start                       200  started, INVITE out
//	save: kept already          200  kept
//	save: not being recorded    503  (the recording failed; see the trace)
//	save                        200  kept
func decideKeyPress(f keyFacts) keyVerdict {
	refuse := func(status int, format string, args ...any) keyVerdict {
		return keyVerdict{status: status, result: KeyRefused, text: fmt.Sprintf(format, args...)}
	}
	switch {
	case f.mode == OnDemandOff:
		return refuse(http.StatusForbidden, "record on demand is off: this recorder records by policy (spec §3.1)")
	case !f.monitored:
		return refuse(http.StatusNotFound, "extension %s is not monitored by this recorder", f.ext)
	case f.known && f.source.IsValid() && f.source.Unmap() != f.device.IP.Unmap():
		return refuse(http.StatusForbidden, "request from %s, but %s is registered at %s", f.source, f.ext, f.device.IP)
	case !f.onCall:
		return refuse(http.StatusConflict, "%s is not on a call", f.ext)
	}
	switch f.mode {
	case StartOnDemand:
		switch {
		case f.recording:
			return keyVerdict{status: http.StatusOK, result: KeyRecording, text: fmt.Sprintf("already recording %s of %s", f.call, f.ext)}
		case !f.known:
			return refuse(http.StatusServiceUnavailable, "no address known for %s (no BackInServiceEvent): cannot record %s", f.ext, f.call)
		}
		return keyVerdict{status: http.StatusOK, result: KeyStarted, start: true, text: fmt.Sprintf("recording of %s started: %s", f.ext, f.call)}
	default: // SaveOnDemand
		switch {
		case f.kept:
			return keyVerdict{status: http.StatusOK, result: KeyKeptAgain, text: fmt.Sprintf("recording of %s already kept: %s", f.ext, f.call)}
		case !f.recording:
			return refuse(http.StatusServiceUnavailable, "%s of %s is not being recorded (see the recorder's trace)", f.call, f.ext)
		}
		return keyVerdict{status: http.StatusOK, result: KeyKept, keep: true, text: fmt.Sprintf("recording of %s will be kept: %s", f.ext, f.call)}
	}
}

// keyPressEvent is a parsed record-key request for the loop; the verdict
// comes back on reply (buffered, so the loop never waits for the handler).
type keyPressEvent struct {
	press  KeyPress
	source netip.AddrPort
	reply  chan keyVerdict
}

// onDemand is record on demand's state in the Recorder; the maps are the
// loop's.
type onDemand struct {
	calls map[string]Call // extension → its Established call not yet cleared
	kept  map[string]bool // "<callID>/<ext>" pressed in save on demand
	http  keyServers      // set by Start, closed by Close (not the loop's)
}

func (o *onDemand) init() {
	if o.calls == nil {
		o.calls = map[string]Call{}
		o.kept = map[string]bool{}
	}
}

// callEstablished notes ext's call for the record key (spec §3.3); whether
// it is recorded from its start is the policy's decision.
func (r *Recorder) callEstablished(ext string, call Call) {
	r.onDemand.init()
	r.onDemand.calls[ext] = call
}

// callCleared forgets ext's call once it is cleared; a kept mark outlives
// the call only while its recording is still open.
func (r *Recorder) callCleared(ext, callID string) {
	r.onDemand.init()
	if c, ok := r.onDemand.calls[ext]; ok && c.ID == callID {
		delete(r.onDemand.calls, ext)
	}
	if r.sessions[r.policy.Key(callID, ext)] == nil {
		delete(r.onDemand.kept, callID+"/"+ext)
	}
}

// onKeyPress is the loop's side of a record-key request.
func (r *Recorder) onKeyPress(ev keyPressEvent) {
	r.onDemand.init()
	if r.closing {
		ev.reply <- keyVerdict{status: http.StatusServiceUnavailable, text: "the recorder is shutting down"}
		return
	}
	ext := ev.press.Ext
	call, onCall := r.onDemand.calls[ext]
	dev, known := r.policy.Device(ext)
	f := keyFacts{
		mode: r.onDemandMode, ext: ext, source: ev.source.Addr(),
		device: dev, known: known, call: call, onCall: onCall,
		kept: r.onDemand.kept[call.ID+"/"+ext],
	}
	for _, m := range r.cfg.Monitored {
		f.monitored = f.monitored || m == ext
	}
	if onCall {
		f.recording = r.sessions[r.policy.Key(call.ID, ext)] != nil
	}
	v := decideKeyPress(f)
	switch {
	case v.start:
		if err := r.policyStep(PolicyEvent{Kind: PolicyRecord, Ext: ext, Call: call}); err != nil {
			// The policy step has put the error in the trace.
			v = keyVerdict{status: http.StatusInternalServerError, text: err.Error()}
		}
	case v.keep:
		r.onDemand.kept[call.ID+"/"+ext] = true
	}
	ev.reply <- v
}

// keepRecording is save on demand's verdict when a recording ends (spec
// §3.3: the press "is an order to the recording system to save the
// recorded call"): one whose call saw no record-key press is not kept. It
// is asked when the recording closes, since the press marks outlive a call
// only while its recording is open, and it uses the mark up.
func (r *Recorder) keepRecording(ext, callID string) bool {
	if r.onDemandMode != SaveOnDemand {
		return true
	}
	r.onDemand.init()
	mark := callID + "/" + ext
	kept := r.onDemand.kept[mark]
	delete(r.onDemand.kept, mark)
	return kept
}

// keptOrDiscarded carries out keepRecording's verdict once the files are
// finished: a recording not kept is deleted, WAV, JSON and XML.
func (r *Recorder) keptOrDiscarded(rec Recording, keep bool) {
	if r.onDemandMode != SaveOnDemand {
		return
	}
	if keep {
		r.node.Note("recording %s kept: record key pressed during the call", recordingName(rec))
		return
	}
	for _, path := range []string{rec.WAV, rec.JSON, rec.XML} {
		if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
			r.net.Errorf(r.node.Name(), netip.AddrPort{}, "recording %s: discard: %v", recordingName(rec), err)
		}
	}
	r.node.Note("recording %s discarded: no record-key press (save on demand, spec §3.3)", recordingName(rec))
}

// recordingName is the recording's name in the trace: its file name
// without the extension.
func recordingName(rec Recording) string {
	return strings.TrimSuffix(filepath.Base(rec.WAV), ".wav")
}

// setOnDemandEvent changes the record on demand mode (the loop's).
type setOnDemandEvent struct {
	mode  OnDemand
	reply chan struct{}
}

// SetOnDemand changes the recorder's record on demand mode while it runs
// (spec §3.3; the TUI's M): calls established from now on follow it.
func (r *Recorder) SetOnDemand(mode OnDemand) {
	ev := setOnDemandEvent{mode: mode, reply: make(chan struct{})}
	r.post(ev)
	select {
	case <-ev.reply:
	case <-r.loopDone: // closed: no mode to change
	}
}

func (r *Recorder) onSetOnDemand(ev setOnDemandEvent) {
	r.onDemandMode = ev.mode
	r.policy.onDemand = ev.mode
	r.node.Note("record on demand is now %s (spec §3.3)", ev.mode)
	close(ev.reply)
}
