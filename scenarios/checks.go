package scenarios

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/reclab/reclab/phones"
	"github.com/reclab/reclab/recorder"
	"github.com/reclab/reclab/sim"
	"github.com/reclab/reclab/sim/media"
)

// checkExpect counts the matching messages of the whole run so far.
func (r *Run) checkExpect(e *ExpectSpec) {
	var hits []sim.Event
	for _, ev := range r.settled() {
		if e.Match.Match(ev) && !retransmitted(ev, hits) {
			hits = append(hits, ev)
		}
	}
	n := len(hits)
	first := func() string {
		if n == 0 {
			return sawInstead(r.settled(), e.Match, "in the run so far")
		}
		return fmt.Sprintf("; first: %s", strings.TrimSpace(hits[0].String()))
	}
	label := expectLabel(e)
	switch {
	case !e.Seen:
		r.Check(n == 0, label, "want none, saw %d%s", n, first())
	case e.Count != nil:
		r.Check(n == *e.Count, label, "want exactly %d, saw %d%s", *e.Count, n, first())
	case e.AtLeast != nil || e.AtMost != nil:
		lo, hi := 0, -1
		if e.AtLeast != nil {
			lo = *e.AtLeast
		}
		if e.AtMost != nil {
			hi = *e.AtMost
		}
		r.Check(n >= lo && (hi < 0 || n <= hi), label, "saw %d%s", n, first())
	default:
		r.Check(n > 0, label, "want at least one, saw none%s", first())
	}
}

// expectLabel is what an expect checks, as its PASS/FAIL line and
// `reclab check` say it.
func expectLabel(e *ExpectSpec) string {
	what := e.Match.String()
	switch {
	case !e.Seen:
		return "no " + what
	case e.Count != nil:
		return fmt.Sprintf("%s seen %d time(s)", what, *e.Count)
	case e.AtLeast != nil || e.AtMost != nil:
		label := what + " seen"
		if e.AtLeast != nil {
			label += fmt.Sprintf(" at least %d", *e.AtLeast)
		}
		if e.AtMost != nil {
			label += fmt.Sprintf(" at most %d", *e.AtMost)
		}
		return label + " time(s)"
	}
	return what + " seen"
}

// orderLabel is what an expect-order checks.
func orderLabel(order []Matcher) string {
	var names []string
	for _, m := range order {
		names = append(names, m.String())
	}
	return "in order: " + strings.Join(names, ", then ")
}

// checkOrder finds the matchers as a subsequence of the run's events.
func (r *Run) checkOrder(order []Matcher) {
	what := orderLabel(order)
	evs := r.settled()
	i := 0
	var last sim.Event
	for k, m := range order {
		found := false
		for ; i < len(evs); i++ {
			if m.Match(evs[i]) {
				found, last = true, evs[i]
				i++
				break
			}
		}
		if !found {
			if k == 0 {
				r.Check(false, what, "never saw %s%s; %s", m, sawInstead(evs, m, "in the run"), actualOrder(evs, order))
			} else {
				r.Check(false, what, "saw %s at %.3fs but no %s after it; %s", order[k-1], last.At.Seconds(), m, actualOrder(evs, order))
			}
			return
		}
	}
	r.Check(true, what, "")
}

// actualOrder is the order in which the run saw the events an order check
// names, each at its first time: "the run's order: B at 1.200s, A at
// 2.300s; never: C".
func actualOrder(evs []sim.Event, order []Matcher) string {
	type first struct {
		m Matcher
		e sim.Event
	}
	var seen []first
	var never []string
	for _, m := range order {
		i := slices.IndexFunc(evs, m.Match)
		if i < 0 {
			never = append(never, m.String())
			continue
		}
		seen = append(seen, first{m, evs[i]})
	}
	slices.SortStableFunc(seen, func(a, b first) int { return cmp.Compare(a.e.Seq, b.e.Seq) })
	var parts []string
	for _, f := range seen {
		parts = append(parts, fmt.Sprintf("%s at %.3fs", f.m, f.e.At.Seconds()))
	}
	out := "the run's order: " + strings.Join(parts, ", then ")
	if len(seen) == 0 {
		out = "the run saw none of them"
	}
	if len(never) > 0 {
		out += "; never: " + strings.Join(never, ", ")
	}
	return out
}

// phoneNow is what a phone last published of each of its states; a state
// never published is its zero value (off, not registered, idle).
type phoneNow struct {
	power phones.PowerState
	reg   phones.RegistrationState
	call  phones.CallChanged
	rec   phones.RecordingState
}

// phoneStates reads the phone's typed states from the events so far.
func phoneStates(evs []sim.Event, name string) phoneNow {
	var now phoneNow
	for _, e := range evs {
		if e.Kind != sim.KindState || e.From != name {
			continue
		}
		switch s := e.State.(type) {
		case phones.PowerState:
			now.power = s
		case phones.RegistrationState:
			now.reg = s
		case phones.CallChanged:
			now.call = s
		case phones.RecordingState:
			now.rec = s
		}
	}
	return now
}

// checkPhone compares the phone's last published states (power,
// registration, call, recording session) with what the step wants.
func (r *Run) checkPhone(name string, c *StateCheck) {
	if _, err := r.Lab.Phone(name); err != nil {
		r.Check(false, "phone "+name, "%v", err)
		return
	}
	s := phoneStates(r.settled(), name)
	want, got := phoneFields(c, &s)
	ok := strings.Join(want, ", ") == strings.Join(got, ", ")
	r.Check(ok, phoneLabel(name, c), "the phone is %s", strings.Join(got, ", "))
}

// phoneFields are the fields an expect-phone names, as it wants them and,
// with now, as the phone is.
func phoneFields(c *StateCheck, now *phoneNow) (want, got []string) {
	add := func(field, w string, g func() string) {
		want = append(want, field+" "+w)
		if now != nil {
			got = append(got, field+" "+g())
		}
	}
	if c.Powered != nil {
		add("powered", fmt.Sprint(*c.Powered), func() string { return fmt.Sprint(now.power.On) })
	}
	if c.Registered != nil {
		add("registered", fmt.Sprint(*c.Registered), func() string { return fmt.Sprint(now.reg.Registered) })
	}
	if c.Call != "" {
		add("call", c.Call, func() string { return now.call.State.String() })
	}
	if c.Recording != "" {
		add("recording", c.Recording, func() string { return now.rec.State.String() })
	}
	return want, got
}

// phoneLabel is what an expect-phone checks.
func phoneLabel(name string, c *StateCheck) string {
	want, _ := phoneFields(c, nil)
	return fmt.Sprintf("phone %s: %s", name, strings.Join(want, ", "))
}

// checkRecording proves a party was recorded correctly: its WAV exists and
// is long enough, the left channel carries the phone's own tone and the
// right one the far end's (found by Goertzel among every phone's tone),
// loss is bounded and the sidecar's packet counts equal what the phone
// forked. With exists: false it proves no recording of the phone was made.
func (r *Run) checkRecording(name string, c *RecordingCheck) {
	p, err := r.Lab.Phone(name)
	if err != nil {
		r.Check(false, "recording of "+name, "%v", err)
		return
	}
	what := fmt.Sprintf("recording of %s (%s)", name, p.Ext())
	if c.OnDisk != nil {
		r.checkOnDisk(p.Ext(), *c.OnDisk, what)
		if *c == (RecordingCheck{Exists: true, OnDisk: c.OnDisk}) {
			return // on-disk alone: the files are the whole check
		}
	}
	recs := keptRecordings(r.settled())
	var rec *recorder.Recording
	for i := range recs {
		if recs[i].Meta.Extension == p.Ext() {
			rec = &recs[i]
		}
	}
	if !c.Exists {
		where := ""
		if rec != nil {
			where = rec.WAV
		}
		r.Check(rec == nil, "no "+what, "found %s", where)
		return
	}
	if rec == nil {
		r.Check(false, what, "no recording for extension %s among %d", p.Ext(), len(recs))
		return
	}
	left, right, err := readWAV(rec.WAV)
	if err != nil {
		r.Check(false, what, "%v", err)
		return
	}
	secs := float64(len(left)) / media.SampleRate
	if c.MinDuration > 0 {
		r.Check(secs >= c.MinDuration.Seconds(), what+": duration", "%.2fs of audio, want at least %s", secs, c.MinDuration)
	}
	var candidates []float64
	for _, q := range r.Lab.Phones {
		candidates = append(candidates, q.ToneHz())
	}
	channel := func(side, who string, samples []int16) {
		q, err := r.Lab.Phone(who)
		if err != nil {
			r.Check(false, what+": "+side+" channel", "%v", err)
			return
		}
		label := fmt.Sprintf("%s channel is %s's own tone %s", side, who, fmtHz(q.ToneHz()))
		if side == "right" {
			label = fmt.Sprintf("right channel is the far end's tone %s (%s)", fmtHz(q.ToneHz()), who)
		}
		if who != name && side == "left" {
			label = fmt.Sprintf("left channel is %s's tone %s", who, fmtHz(q.ToneHz()))
		}
		f, ratio := media.DominantTone(samples, media.SampleRate, candidates)
		r.Check(f == q.ToneHz() && ratio > 10, what+": "+label, "dominant tone %s (ratio %.1f)", fmtHz(f), ratio)
	}
	if c.Left != "" {
		channel("left", c.Left, left)
	}
	if c.Right != "" {
		channel("right", c.Right, right)
	}
	if c.MaxLost == nil && !c.Forked && c.Encrypted == nil {
		return
	}
	meta, err := readMeta(rec.JSON)
	if err != nil {
		r.Check(false, what+": sidecar", "%v", err)
		return
	}
	if c.MaxLost != nil {
		label := fmt.Sprintf("at most %d packets lost", *c.MaxLost)
		if *c.MaxLost == 0 {
			label = "no packet lost"
		}
		r.Check(meta.Lost() <= int64(*c.MaxLost), what+": "+label, "tx lost %d, rx lost %d", meta.TX.Lost, meta.RX.Lost)
	}
	if c.Forked {
		r.checkForked(p, what, recs)
	}
	if c.Encrypted != nil {
		// Spec §1.3: the recorder says the call was encrypted, and decrypted
		// every packet it recorded.
		if *c.Encrypted {
			ok := meta.Encrypted && meta.SRTP != nil && meta.SRTP.Failed == 0 && meta.SRTP.Decrypted > 0
			r.Check(ok, what+": encrypted, every packet decrypted", "encrypted %v, srtp %+v", meta.Encrypted, meta.SRTP)
		} else {
			r.Check(!meta.Encrypted, what+": not encrypted", "encrypted %v, srtp %+v", meta.Encrypted, meta.SRTP)
		}
	}
}

// keptRecordings are the recordings the recorder kept, as its
// RecordingClosed states say, in the order they closed.
func keptRecordings(evs []sim.Event) []recorder.Recording {
	var out []recorder.Recording
	for _, e := range evs {
		if c, ok := e.State.(recorder.RecordingClosed); ok && e.Kind == sim.KindState && c.Kept {
			out = append(out, c.Recording)
		}
	}
	return out
}

// inFlightAtClose bounds, per stream and static-mapping recording, the
// packets a phone may fork that reach no file. None: the recorder keeps a
// file past its end (a cleared call, an answered BYE, the phone's BYE) open
// until what the phone forked before it stopped has arrived (the drain
// grace, wire.md "Recording session"), on any link delay.
const inFlightAtClose = 0

// checkForked: every packet the phone forked is in one of the recordings
// made from its address, none twice — one file per call, nothing lost on the
// way but what was in flight when a call cleared (a phone may have several
// files: static mapping across calls, a recovery, a forced log-off).
func (r *Run) checkForked(p *phones.Phone, what string, recs []recorder.Recording) {
	var tx, rx, dups int64
	n, static := 0, 0
	for _, q := range recs {
		if q.Meta.PhoneIP != p.Node().Addr().String() {
			continue
		}
		m, err := readMeta(q.JSON)
		if err != nil {
			r.Check(false, what+": sidecar", "%v", err)
			return
		}
		tx, rx, dups, n = tx+m.TX.Received, rx+m.RX.Received, dups+m.TX.Duplicates+m.RX.Duplicates, n+1
		if m.Mapping == recorder.Static.String() {
			static++
		}
	}
	st := p.Stats()
	label := what + ": sidecar counts equal what the phone forked"
	if n > 1 {
		label = fmt.Sprintf("%s: the sidecars of its %d recordings add up to what the phone forked, none twice", what, n)
	}
	slack := uint64(inFlightAtClose * static)
	within := func(got int64, forked uint64) bool {
		return got >= 0 && uint64(got) <= forked && forked-uint64(got) <= slack
	}
	// The figures, for sweeps that count what was recorded (a note of its
	// own: the golden flow keeps only the check's verdict).
	r.Lab.Net.Note("checks", "%s: forked tx %d rx %d, recorded tx %d rx %d in %d recording(s), %d duplicates",
		p.Name(), st.ForkedTX, st.ForkedRX, tx, rx, n, dups)
	r.Check(n > 0 && within(tx, st.ForkedTX) && within(rx, st.ForkedRX) && dups == 0, label,
		"sidecars tx %d rx %d (%d duplicates) in %d recording(s), phone forked tx %d rx %d (at most %d a stream may be in flight when calls clear)",
		tx, rx, dups, n, st.ForkedTX, st.ForkedRX, slack)
}

// checkOnDisk counts the extension's recordings where the recorder writes
// them, OUT/recordings: each JSON sidecar naming the extension, with its WAV
// beside it. Save on demand deletes both files of a discarded recording
// (spec §3.3), so this is what a user would find afterwards.
func (r *Run) checkOnDisk(ext string, want int, what string) {
	label := fmt.Sprintf("%s: %d on disk", what, want)
	sidecars, _ := filepath.Glob(filepath.Join(r.Out, "recordings", "*.json"))
	var names []string
	for _, path := range sidecars {
		meta, err := readMeta(path)
		if err != nil {
			r.Check(false, label, "%v", err)
			return
		}
		if meta.Extension != ext {
			continue
		}
		wav := strings.TrimSuffix(path, ".json") + ".wav"
		if _, err := os.Stat(wav); err != nil {
			r.Check(false, label, "%s has no WAV beside it: %v", path, err)
			return
		}
		names = append(names, filepath.Base(wav))
	}
	r.Check(len(names) == want, label, "found %d: %s", len(names), strings.Join(names, ", "))
}

func readMeta(path string) (recorder.Meta, error) {
	var meta recorder.Meta
	b, err := os.ReadFile(path)
	if err == nil {
		err = json.Unmarshal(b, &meta)
	}
	return meta, err
}

func fmtHz(f float64) string { return fmt.Sprintf("%.0f Hz", f) }

func readWAV(path string) (left, right []int16, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	left, right, rate, err := media.ReadWAV(f)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	if rate != media.SampleRate || right == nil {
		return nil, nil, fmt.Errorf("%s: %d Hz, stereo %v; want 8000 Hz stereo", path, rate, right != nil)
	}
	return left, right, nil
}

// retransmitted reports whether ev is a SIP retransmission of a message
// already among hits: the same bytes again between the same addresses
// (RFC 3261 §17.1.1.2: an INVITE unanswered for T1 goes again, as on a
// loaded machine or a slow link). A count counts each message once, so a
// story's verdict does not depend on how fast the far end answered.
func retransmitted(ev sim.Event, hits []sim.Event) bool {
	if ev.Proto != sim.ProtoSIP || ev.Kind != sim.KindMessage || len(ev.Bytes) == 0 {
		return false
	}
	for _, h := range hits {
		if h.Src == ev.Src && h.Dst == ev.Dst && bytes.Equal(h.Bytes, ev.Bytes) {
			return true
		}
	}
	return false
}
