package media

import "math"

// Goertzel returns the power of freq in samples, normalised so that a sine
// of peak amplitude A (full scale 32768) gives about (A/32768)², whatever
// the number of samples. It is the single-bin DFT of the Goertzel
// recurrence, with freq not tied to a bin so any frequency can be asked
// for; resolution is about rate/len(samples) Hz. Empty input, a rate ≤ 0
// or a frequency outside (0, rate/2] give 0.
func Goertzel(samples []int16, rate int, freq float64) float64 {
	n := len(samples)
	if n == 0 || rate <= 0 || freq <= 0 || freq > float64(rate)/2 {
		return 0
	}
	w := 2 * math.Pi * freq / float64(rate)
	coeff := 2 * math.Cos(w)
	var s1, s2 float64
	for _, x := range samples {
		s0 := float64(x) + coeff*s1 - s2
		s2, s1 = s1, s0
	}
	power := s1*s1 + s2*s2 - coeff*s1*s2
	// A sine of amplitude A at freq gives |X|² ≈ (A·n/2)².
	scale := float64(n) / 2 * 32768
	return max(0, power/(scale*scale))
}

// DominantTone returns the candidate frequency with the most power in
// samples and the ratio of its power to the runner-up's (+Inf with a single
// candidate or a silent runner-up). Silence, or no candidates, returns
// (0, 0). A ratio of 10 or more means the tone is clearly there.
func DominantTone(samples []int16, rate int, candidates []float64) (freq float64, ratio float64) {
	best, second := -1.0, -1.0
	for _, f := range candidates {
		p := Goertzel(samples, rate, f)
		switch {
		case p > best:
			second, best, freq = best, p, f
		case p > second:
			second = p
		}
	}
	if best <= 0 {
		return 0, 0
	}
	if second <= 0 {
		return freq, math.Inf(1)
	}
	return freq, best / second
}
