package scenarios

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/reclab/reclab/recorder"
	"github.com/reclab/reclab/sim"
	"github.com/reclab/reclab/sim/media"
)

// checkRecordings proves each party was recorded correctly: its WAV exists,
// the left channel carries the phone's own tone and the right one the far
// end's (found by Goertzel among every phone's tone), and the sidecar's
// packet counts equal what the phone forked, with none lost on loopback.
func checkRecordings(r *Run, parties []party) {
	recs := r.Lab.Recorder.Recordings()
	var candidates []float64
	for _, p := range r.Lab.Phones {
		candidates = append(candidates, p.ToneHz())
	}
	for _, p := range parties {
		what := fmt.Sprintf("recording of %s (%s)", p.name, p.ext)
		var rec *recorder.Recording
		for i := range recs {
			if recs[i].Meta.Extension == p.ext {
				rec = &recs[i]
			}
		}
		if rec == nil {
			r.Check(false, what, "no recording for extension %s among %d", p.ext, len(recs))
			continue
		}
		left, right, err := readWAV(rec.WAV)
		if err != nil {
			r.Check(false, what, "%v", err)
			continue
		}
		secs := float64(len(left)) / media.SampleRate
		r.Check(secs >= 1, what+": duration", "%.2fs of audio, want at least 1s", secs)
		lf, lr := media.DominantTone(left, media.SampleRate, candidates)
		r.Check(lf == p.tone && lr > 10, what+": left channel is "+p.name+"'s own tone "+fmtHz(p.tone),
			"dominant tone %s (ratio %.1f)", fmtHz(lf), lr)
		rf, rr := media.DominantTone(right, media.SampleRate, candidates)
		r.Check(rf == p.other && rr > 10, what+": right channel is the far end's tone "+fmtHz(p.other),
			"dominant tone %s (ratio %.1f)", fmtHz(rf), rr)

		var meta recorder.Meta
		b, err := os.ReadFile(rec.JSON)
		if err == nil {
			err = json.Unmarshal(b, &meta)
		}
		if err != nil {
			r.Check(false, what+": sidecar", "%v", err)
			continue
		}
		r.Check(meta.Lost() == 0, what+": no packet lost", "tx lost %d, rx lost %d", meta.TX.Lost, meta.RX.Lost)
		ph, _ := r.Lab.Phone(p.name)
		st := ph.Stats()
		r.Check(uint64(meta.TX.Received) == st.ForkedTX && uint64(meta.RX.Received) == st.ForkedRX,
			what+": sidecar counts equal what the phone forked",
			"sidecar tx %d rx %d, phone forked tx %d rx %d", meta.TX.Received, meta.RX.Received, st.ForkedTX, st.ForkedRX)
	}
}

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

// checkRecordingPorts proves the recorder INVITEd each phone at the port its
// model dictates: 7300 on 442x/743x/744x, the configured SIP port on 6xxx
// (spec §3.2).
func checkRecordingPorts(r *Run) {
	for _, p := range r.Lab.Phones {
		want := p.RecordingAddr()
		found := false
		for _, e := range r.Lab.Net.Trace().Recent() {
			if e.Kind == sim.KindMessage && e.Proto == sim.ProtoSIP && e.From == "recorder" &&
				strings.HasPrefix(e.Summary, "INVITE ") && e.Dst == want {
				found = true
				break
			}
		}
		r.Check(found, fmt.Sprintf("recorder INVITEd %s at its recording address %s", p.Name(), want),
			"no INVITE from the recorder to %s in the trace", want)
	}
}
