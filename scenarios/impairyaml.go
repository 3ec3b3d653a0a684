package scenarios

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/reclab/reclab/sim"
)

// The impair step both ways: Sim is the lab impairment a step sets (Run's
// impair), ImpairmentOf the step a lab impairment is, and YAML writes it as
// the step's argument (parseImpair reads it back). The TUI's save as
// scenario writes its impairments through these, so a story has one writer
// and one reader (issue 12).

// Sim is the lab impairment the step sets.
func (im Impairment) Sim() (sim.Impairment, error) {
	si := sim.Impairment{From: im.Between[0], To: im.Between[1], Both: !im.OneWay,
		Drop: im.Drop, Blackhole: im.DropAll, Delay: im.Delay, Duplicate: im.Duplicate, Count: im.Count}
	if im.Proto == "all" {
		si.AllProtos = true
		return si, nil
	}
	p, err := sim.ParseProto(im.Proto)
	if err != nil {
		return si, err
	}
	si.Proto = p
	return si, nil
}

// ImpairmentOf is the impair step that sets si, or an error saying what
// a step cannot express (jitter; an impairment of any node).
func ImpairmentOf(si sim.Impairment) (Impairment, error) {
	if si.From == "" || si.To == "" {
		return Impairment{}, errors.New("an impair step names both nodes; this impairment is of any node")
	}
	if si.Jitter > 0 {
		return Impairment{}, fmt.Errorf("an impair step has no jitter (this one: %s ± %s)", si.Delay, si.Jitter)
	}
	im := Impairment{Between: [2]string{si.From, si.To}, OneWay: !si.Both, Proto: si.Proto.String(),
		Drop: si.Drop, DropAll: si.Blackhole, Delay: si.Delay, Duplicate: si.Duplicate, Count: si.Count}
	if si.AllProtos {
		im.Proto = "all"
	}
	return im, nil
}

// YAML is the impair step's argument as a flow mapping:
// {between: ["7434", "recorder"], proto: SIP, drop: 0.5}.
func (im Impairment) YAML() string {
	var parts []string
	if im.OneWay {
		parts = append(parts, fmt.Sprintf("from: %s, to: %s", strconv.Quote(im.Between[0]), strconv.Quote(im.Between[1])))
	} else {
		parts = append(parts, fmt.Sprintf("between: [%s, %s]", strconv.Quote(im.Between[0]), strconv.Quote(im.Between[1])))
	}
	parts = append(parts, "proto: "+im.Proto)
	switch {
	case im.DropAll:
		parts = append(parts, "drop: all")
	case im.Drop > 0:
		parts = append(parts, "drop: "+strconv.FormatFloat(im.Drop, 'g', -1, 64))
	}
	if im.Delay > 0 {
		parts = append(parts, "delay: "+im.Delay.String())
	}
	if im.Duplicate > 0 {
		parts = append(parts, "duplicate: "+strconv.FormatFloat(im.Duplicate, 'g', -1, 64))
	}
	if im.Count > 0 {
		parts = append(parts, "count: "+strconv.Itoa(im.Count))
	}
	return "{" + strings.Join(parts, ", ") + "}"
}
