package media

import (
	"math"
	"slices"
	"testing"
)

func TestTonePhaseContinuous(t *testing.T) {
	whole := make([]int16, 10*FrameSamples)
	NewTone(1000, 10000).Next(whole)
	framed := make([]int16, 0, len(whole))
	tone := NewTone(1000, 10000)
	frame := make([]int16, FrameSamples)
	for range 10 {
		tone.Next(frame)
		framed = append(framed, frame...)
	}
	if !slices.Equal(whole, framed) {
		t.Error("frames do not join into the same signal as one long block")
	}
	// 1000 Hz at 8 kHz repeats every 8 samples.
	for i := 8; i < len(whole); i++ {
		if d := int(whole[i]) - int(whole[i-8]); d < -1 || d > 1 {
			t.Fatalf("sample %d = %d, sample %d = %d: not periodic", i, whole[i], i-8, whole[i-8])
		}
	}
	peak := slices.Max(whole)
	if peak < 9990 || peak > 10000 {
		t.Errorf("peak %d, want about 10000", peak)
	}
}

func TestToneFrequencyPlan(t *testing.T) {
	seen := map[float64]int{}
	var all []float64
	for i := range ToneFrequencyCount {
		f := ToneFrequency(i)
		if f < 300 || f >= 3400 {
			t.Errorf("ToneFrequency(%d) = %v, outside the telephone band", i, f)
		}
		if j, dup := seen[f]; dup {
			t.Errorf("ToneFrequency(%d) = ToneFrequency(%d) = %v", i, j, f)
		}
		seen[f] = i
		all = append(all, f)
	}
	slices.Sort(all)
	for i := 1; i < len(all); i++ {
		if all[i]-all[i-1] < 75 {
			t.Errorf("tones %v and %v are closer than 75 Hz", all[i-1], all[i])
		}
	}
	if ToneFrequency(ToneFrequencyCount+3) != ToneFrequency(3) || ToneFrequency(-3) != ToneFrequency(3) {
		t.Error("ToneFrequency does not wrap")
	}
	if f := ToneFrequency(math.MinInt); f < 300 || f >= 3400 {
		t.Errorf("ToneFrequency(MinInt) = %v", f)
	}
}

func TestLoop(t *testing.T) {
	l := NewLoop([]int16{1, 2, 3})
	dst := make([]int16, 7)
	l.Next(dst)
	if want := []int16{1, 2, 3, 1, 2, 3, 1}; !slices.Equal(dst, want) {
		t.Errorf("Loop gave %v, want %v", dst, want)
	}
	l.Next(dst[:2])
	if dst[0] != 2 || dst[1] != 3 {
		t.Errorf("Loop did not continue where it stopped: %v", dst[:2])
	}
	NewLoop(nil).Next(dst)
	if slices.ContainsFunc(dst, func(v int16) bool { return v != 0 }) {
		t.Errorf("empty Loop gave %v, want silence", dst)
	}
}

func TestGoertzel(t *testing.T) {
	pcm := make([]int16, SampleRate/2)
	NewTone(1000, 16384).Next(pcm)
	if p := Goertzel(pcm, SampleRate, 1000); math.Abs(p-0.25) > 0.01 {
		t.Errorf("power of a half-scale 1000 Hz tone = %v, want 0.25", p)
	}
	if p := Goertzel(pcm, SampleRate, 1300); p > 1e-4 {
		t.Errorf("power at 1300 Hz = %v, want about 0", p)
	}
	for _, tc := range []struct {
		rate int
		freq float64
		pcm  []int16
	}{{SampleRate, 1000, nil}, {0, 1000, pcm}, {SampleRate, 0, pcm}, {SampleRate, 5000, pcm}} {
		if p := Goertzel(tc.pcm, tc.rate, tc.freq); p != 0 {
			t.Errorf("Goertzel(len %d, %d, %v) = %v, want 0", len(tc.pcm), tc.rate, tc.freq, p)
		}
	}
}

func TestDominantTone(t *testing.T) {
	cands := make([]float64, ToneFrequencyCount)
	for i := range cands {
		cands[i] = ToneFrequency(i)
	}
	pcm := make([]int16, SampleRate/2)
	for i, f := range cands {
		NewTone(f, 8000).Next(pcm)
		got, ratio := DominantTone(pcm, SampleRate, cands)
		if got != f || ratio < 10 {
			t.Errorf("tone %d (%v Hz): DominantTone = %v, ratio %v", i, f, got, ratio)
		}
	}
	if f, r := DominantTone(make([]int16, 100), SampleRate, cands); f != 0 || r != 0 {
		t.Errorf("silence: %v, %v; want 0, 0", f, r)
	}
	if f, r := DominantTone(pcm, SampleRate, nil); f != 0 || r != 0 {
		t.Errorf("no candidates: %v, %v; want 0, 0", f, r)
	}
	if f, r := DominantTone(pcm, SampleRate, cands[len(cands)-1:]); f != cands[len(cands)-1] || !math.IsInf(r, 1) {
		t.Errorf("one candidate: %v, %v; want it and +Inf", f, r)
	}
}
