package media

import "math"

// Source produces audio one frame at a time: Next fills all of dst. Tone and
// Loop implement it; a phone sends whatever its Source yields.
type Source interface {
	Next(dst []int16)
}

// Tone is a sine generator whose phase carries over from one frame to the
// next, so consecutive frames join without clicks and Goertzel sees one
// clean frequency.
//
// It is on every phone's 20 ms RTP path, so it does not call math.Sin per
// sample (that was a tenth of a 3,000-stream bench's CPU): it rotates a
// (sin, cos) pair by the step and re-anchors on an exact math.Sincos every
// toneAnchor samples of the tone's own count, so the output depends only on
// the sample's position, never on how the caller cuts it into frames.
type Tone struct {
	freq      float64
	amplitude float64
	phase     float64 // radians at the current anchor, kept in [0, 2π)
	step      float64 // radians per sample
	since     int     // samples since the anchor
	sin, cos  float64 // of the next sample's phase
	dsin      float64 // of step
	dcos      float64
	// period, when the tone repeats within maxTonePeriod samples (every
	// tone of ToneFrequency's plan is a multiple of 25 Hz, so repeats every
	// 320 samples), plays one period over and over; Next then only copies.
	period *Loop
}

// maxTonePeriod bounds the table a Tone keeps: 1,600 samples (200 ms,
// 3.2 KB) covers every whole-Hz tone that repeats in 200 ms.
const maxTonePeriod = 1600

// toneAnchor is how many samples a Tone rotates between exact anchors; the
// rotation's rounding error stays near 1e-14 of full scale.
const toneAnchor = 32

// NewTone returns a tone of freqHz at SampleRate with the given peak
// amplitude. Frequencies outside (0, SampleRate/2) alias or stay silent; use
// ToneFrequency for per-phone tones.
func NewTone(freqHz float64, amplitude int16) *Tone {
	t := &Tone{
		freq:      freqHz,
		amplitude: float64(amplitude),
		step:      2 * math.Pi * freqHz / SampleRate,
	}
	t.dsin, t.dcos = math.Sincos(t.step)
	if freqHz > 0 && freqHz == math.Trunc(freqHz) && freqHz < SampleRate/2 {
		// A whole-Hz tone repeats every SampleRate/gcd(f, SampleRate) samples.
		if n := SampleRate / gcd(int(freqHz), SampleRate); n <= maxTonePeriod {
			period := make([]int16, n)
			t.generate(period)
			*t = Tone{freq: t.freq, amplitude: t.amplitude, step: t.step, period: NewLoop(period)}
		}
	}
	return t
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// Period is how many samples the tone repeats after when it plays from a
// table (a whole-Hz tone that repeats within 200 ms), 0 otherwise. A sender
// may encode one repetition once and send copies (issue 14).
func (t *Tone) Period() int {
	if t.period == nil {
		return 0
	}
	return len(t.period.samples)
}

// Frequency returns the tone's frequency in Hz.
func (t *Tone) Frequency() float64 { return t.freq }

// Next fills dst with the next len(dst) samples. It does not allocate.
func (t *Tone) Next(dst []int16) {
	if t.period != nil {
		t.period.Next(dst)
		return
	}
	t.generate(dst)
}

// generate computes the next len(dst) samples.
func (t *Tone) generate(dst []int16) {
	for i := range dst {
		if t.since == 0 {
			t.sin, t.cos = math.Sincos(t.phase)
		}
		dst[i] = roundSample(t.amplitude * t.sin)
		t.sin, t.cos = t.sin*t.dcos+t.cos*t.dsin, t.cos*t.dcos-t.sin*t.dsin
		if t.since++; t.since == toneAnchor {
			t.since = 0
			t.phase = math.Mod(t.phase+toneAnchor*t.step, 2*math.Pi)
		}
	}
}

// roundSample rounds half away from zero, as math.Round, for values well
// inside the int16 range, without math.Round's bit handling.
func roundSample(x float64) int16 {
	if x < 0 {
		return int16(x - 0.5)
	}
	return int16(x + 0.5)
}

// Loop plays a fixed block of samples (say, a WAV file read with ReadWAV)
// over and over.
type Loop struct {
	samples []int16
	pos     int
}

// NewLoop returns a Loop over samples, which it keeps (not copies). An empty
// Loop yields silence.
func NewLoop(samples []int16) *Loop { return &Loop{samples: samples} }

// Next fills dst, wrapping to the start as needed. It does not allocate.
func (l *Loop) Next(dst []int16) {
	if len(l.samples) == 0 {
		clear(dst)
		return
	}
	for n := 0; n < len(dst); {
		c := copy(dst[n:], l.samples[l.pos:])
		n += c
		l.pos += c
		if l.pos == len(l.samples) {
			l.pos = 0
		}
	}
}

// Per-phone tone plan: ToneFrequency(i) for i = 0, 1, 2, … walks from
// toneBase in steps of toneStep up to the highest tone below the telephone
// band edge (3400 Hz), then repeats once shifted by half a step so that 40
// phones have distinct tones at least 75 Hz apart. Half a second of audio
// resolves 2 Hz, so neighbours never blur.
const (
	toneBase  = 400.0
	toneStep  = 150.0
	toneSteps = 20 // 400 … 3250 Hz
)

// ToneFrequencyCount is the number of distinct frequencies ToneFrequency
// hands out before it repeats.
const ToneFrequencyCount = 2 * toneSteps

// ToneFrequency returns the tone of the phone with the given index (its
// position in the lab's phone list): 400, 550, … 3250 Hz, then 475, 625, …
// 3325 Hz, then the cycle repeats. Negative indexes count as their absolute
// value.
func ToneFrequency(index int) float64 {
	index %= ToneFrequencyCount
	if index < 0 {
		index = -index
	}
	f := toneBase + toneStep*float64(index%toneSteps)
	if index >= toneSteps {
		f += toneStep / 2
	}
	return f
}
