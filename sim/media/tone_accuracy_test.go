package media

import (
	"math"
	"testing"
)

// TestToneMatchesSine checks the rotating generator against math.Sin for ten
// seconds of audio at every tone of the per-phone plan: no sample may be off
// by more than one step of rounding. The plan's tones repeat every 320
// samples and play from a table; 440.5 Hz and 7 Hz do not and are
// generated sample by sample.
func TestToneMatchesSine(t *testing.T) {
	const amplitude = 8000
	pcm := make([]int16, 10*SampleRate)
	freqs := []float64{440.5, 7}
	for i := range ToneFrequencyCount {
		freqs = append(freqs, ToneFrequency(i))
	}
	for _, f := range freqs {
		NewTone(f, amplitude).Next(pcm)
		for n, got := range pcm {
			want := amplitude * math.Sin(math.Mod(2*math.Pi*f*float64(n)/SampleRate, 2*math.Pi))
			if d := float64(got) - want; d < -1 || d > 1 {
				t.Fatalf("%v Hz sample %d = %d, sine says %.3f", f, n, got, want)
			}
		}
	}
}

// BenchmarkTonePlanFrame is one 20 ms frame of a phone's tone (a table copy).
func BenchmarkTonePlanFrame(b *testing.B) {
	tone := NewTone(ToneFrequency(3), 8000)
	pcm := make([]int16, FrameSamples)
	b.ReportAllocs()
	for b.Loop() {
		tone.Next(pcm)
	}
}

// BenchmarkToneGeneratedFrame is one frame of a tone without a table.
func BenchmarkToneGeneratedFrame(b *testing.B) {
	tone := NewTone(440.5, 8000)
	pcm := make([]int16, FrameSamples)
	b.ReportAllocs()
	for b.Loop() {
		tone.Next(pcm)
	}
}
