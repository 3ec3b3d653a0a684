package tui

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/reclab/reclab/sim"
)

const impairHelp = "FROM TO drop 30% | delay 200ms [jitter 50ms] | dup 10% | blackhole  [sip|rtp|csta|http] [both]"

// parseImpairment reads the impairment prompt: two nodes (name, extension
// or "any"), then what to do to the packets, optionally one protocol
// (default: all) and "both" for both directions, e.g. "7434 pbx drop 50%
// sip", "pbx recorder blackhole csta", "1002 recorder delay 300ms rtp".
// sim validates the combination (Network.Impair); this names the word it
// could not read.
func parseImpairment(s string, snap Snapshot) (sim.Impairment, error) {
	var im sim.Impairment
	w := strings.Fields(s)
	if len(w) < 3 {
		return im, fmt.Errorf("impair: give two nodes and an effect: %s", impairHelp)
	}
	nodes := map[string]string{"pbx": "pbx", "recorder": "recorder", "any": ""}
	for _, p := range snap.Phones {
		nodes[strings.ToLower(p.Name)], nodes[p.Ext] = p.Name, p.Name
	}
	for i, dst := range []*string{&im.From, &im.To} {
		n, ok := nodes[strings.ToLower(w[i])]
		if !ok {
			return im, fmt.Errorf("impair: %q is not a node (pbx, recorder, a phone, an extension or any)", w[i])
		}
		*dst = n
	}
	im.AllProtos = true
	for i := 2; i < len(w); i++ {
		word := strings.ToLower(w[i])
		arg := func() (string, error) {
			if i+1 >= len(w) {
				return "", fmt.Errorf("impair: %q needs a value", word)
			}
			i++
			return w[i], nil
		}
		switch word {
		case "blackhole":
			im.Blackhole = true
		case "both":
			im.Both = true
		case "drop", "dup", "duplicate":
			v, err := arg()
			if err != nil {
				return im, err
			}
			f, err := fraction(v)
			if err != nil {
				return im, fmt.Errorf("impair: %s %q: %w", word, v, err)
			}
			if word == "drop" {
				im.Drop = f
			} else {
				im.Duplicate = f
			}
		case "delay", "jitter":
			v, err := arg()
			if err != nil {
				return im, err
			}
			d, err := time.ParseDuration(v)
			if err != nil {
				return im, fmt.Errorf("impair: %s %q is not a duration like 200ms", word, v)
			}
			if word == "delay" {
				im.Delay = d
			} else {
				im.Jitter = d
			}
		default:
			p, err := sim.ParseProto(word)
			if err != nil || p == sim.ProtoLab {
				return im, fmt.Errorf("impair: %q is not understood: %s", w[i], impairHelp)
			}
			if !im.AllProtos {
				return im, fmt.Errorf("impair: one protocol per impairment, %s and %s given", im.Proto, p)
			}
			im.Proto, im.AllProtos = p, false
		}
	}
	// In the prompt's own words (issue 12: sim's "Jitter 20ms must lie
	// between 0 and Delay 0s" leaked through).
	if im.Jitter > im.Delay {
		return im, fmt.Errorf("impair: jitter %s needs a delay at least as long, e.g. delay %s jitter %s", im.Jitter, max(im.Jitter*4, 100*time.Millisecond), im.Jitter)
	}
	return im, nil
}

// fraction reads "30%" or "0.3".
func fraction(s string) (float64, error) {
	pct := strings.HasSuffix(s, "%")
	f, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
	if err != nil {
		return 0, fmt.Errorf("not a number")
	}
	if pct {
		f /= 100
	}
	if f < 0 || f > 1 {
		return 0, fmt.Errorf("not between 0 and 100%%")
	}
	return f, nil
}
