package scenarios

import (
	"fmt"
	"strings"
)

// Plan says what each step will do, one line a step, without running
// anything (`reclab check`): "4  story.yaml:9:5  wait for pbx → 7434 SIP
// 180 (timeout 10s)". Narration follows its step's action in quotes.
func (s *Scenario) Plan() []string {
	var out []string
	for i, st := range s.Steps {
		what := planStep(st)
		if st.Say != "" {
			say := fmt.Sprintf("say %q", st.Say)
			if what == "" {
				what = say
			} else {
				what += "  — " + say
			}
		}
		out = append(out, fmt.Sprintf("%3d  %s  %s", i+1, st.Pos, what))
	}
	return out
}

// planStep is one step's action, wait or check in words; "" for narration
// alone.
func planStep(st Step) string {
	switch st.Kind {
	case "":
		return ""
	case "wait":
		if st.Wait != nil {
			return fmt.Sprintf("%s (timeout %s)", describeStep(st), st.Wait.Timeout)
		}
	case "expect":
		return "check " + expectLabel(st.Expect)
	case "expect-order":
		return "check " + orderLabel(st.Order)
	case "expect-phone":
		return "check " + phoneLabel(st.Phone, st.State)
	case "expect-recording":
		return "check " + recordingLabel(st.Phone, st.Rec)
	}
	return describeStep(st)
}

// recordingLabel is what an expect-recording checks, in words.
func recordingLabel(phone string, c *RecordingCheck) string {
	if !c.Exists {
		return "no recording of " + phone
	}
	var parts []string
	if c.MinDuration > 0 {
		parts = append(parts, "at least "+c.MinDuration.String())
	}
	if c.Left != "" {
		parts = append(parts, "left channel "+c.Left+"'s tone")
	}
	if c.Right != "" {
		parts = append(parts, "right channel "+c.Right+"'s tone")
	}
	if c.MaxLost != nil {
		parts = append(parts, fmt.Sprintf("at most %d packets lost", *c.MaxLost))
	}
	if c.Forked {
		parts = append(parts, "every forked packet recorded once")
	}
	if c.Encrypted != nil && *c.Encrypted {
		parts = append(parts, "encrypted, every packet decrypted")
	} else if c.Encrypted != nil {
		parts = append(parts, "not encrypted")
	}
	if c.OnDisk != nil {
		parts = append(parts, fmt.Sprintf("%d on disk", *c.OnDisk))
	}
	if len(parts) == 0 {
		return "a recording of " + phone
	}
	return "recording of " + phone + ": " + strings.Join(parts, ", ")
}
