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
type Tone struct {
	freq      float64
	amplitude float64
	phase     float64 // radians, kept in [0, 2π) so precision does not drift
	step      float64 // radians per sample
}

// NewTone returns a tone of freqHz at SampleRate with the given peak
// amplitude. Frequencies outside (0, SampleRate/2) alias or stay silent; use
// ToneFrequency for per-phone tones.
func NewTone(freqHz float64, amplitude int16) *Tone {
	return &Tone{
		freq:      freqHz,
		amplitude: float64(amplitude),
		step:      2 * math.Pi * freqHz / SampleRate,
	}
}

// Frequency returns the tone's frequency in Hz.
func (t *Tone) Frequency() float64 { return t.freq }

// Next fills dst with the next len(dst) samples. It does not allocate.
func (t *Tone) Next(dst []int16) {
	for i := range dst {
		dst[i] = int16(math.Round(t.amplitude * math.Sin(t.phase)))
		t.phase += t.step
		if t.phase >= 2*math.Pi {
			t.phase -= 2 * math.Pi
		}
	}
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
