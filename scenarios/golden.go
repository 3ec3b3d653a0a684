package scenarios

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/reclab/reclab/sim"
)

// Golden is the run's message flow in a form that is the same on every
// run, for the golden files under testdata/golden (refreshed with
// `go test ./scenarios -update`):
//
//   - the narration, step lines and check results, in order;
//   - per sender → receiver and protocol, the messages in the order that
//     pair exchanged them (nodes run concurrently, so the interleaving of
//     different pairs is not fixed, but each pair's own order is causal);
//     a message repeated back to back (a retransmission) counts once;
//   - an RTP stream as one line per sender → receiver, without counts;
//   - errors, sorted.
//
// Times are dropped, long numbers (call IDs, session IDs) become <id> and
// ephemeral ports (32768 and up) <port>.
func (r *Run) Golden() string {
	return goldenText(r.eventsSoFar())
}

var (
	longNumber = regexp.MustCompile(`\b[0-9a-fA-F]{12,}\b`)
	// An address with a port the OS picked for an outgoing TCP connection
	// (a record-key press, the CSTA client): Linux's ephemeral range.
	ephemeralPort = regexp.MustCompile(`\b(\d+\.\d+\.\d+\.\d+):(3276[89]|327[7-9]\d|32[89]\d\d|3[3-9]\d{3}|[4-6]\d{4})\b`)
)

func normalise(s string) string {
	s = ephemeralPort.ReplaceAllString(s, "$1:<port>")
	return longNumber.ReplaceAllString(s, "<id>")
}

func goldenText(evs []sim.Event) string {
	var story []string
	flows := map[string][]string{}
	var errs []string
	for _, e := range evs {
		key := fmt.Sprintf("%s → %s %s", e.From, e.To, e.Proto)
		line := ""
		switch e.Kind {
		case sim.KindNote:
			if e.From == "scenario" {
				story = append(story, normalise(e.Summary))
			}
			continue
		case sim.KindError:
			errs = append(errs, normalise(e.From+": "+e.Summary))
			continue
		case sim.KindMessage:
			line = normalise(e.Summary)
		case sim.KindDropped:
			line = "DROPPED " + normalise(e.Summary)
		case sim.KindStreamStart:
			line = "RTP stream"
			if strings.HasPrefix(e.Summary, "SRTP stream") {
				line = "SRTP stream" // spec §1.3: an encrypted flow (sim.SRTPBook)
			}
		default:
			continue
		}
		seq := flows[key]
		if len(seq) > 0 && seq[len(seq)-1] == line {
			continue
		}
		if e.Kind == sim.KindStreamStart && slices.Contains(seq, line) {
			continue
		}
		flows[key] = append(seq, line)
	}
	var b strings.Builder
	b.WriteString("# story\n")
	for _, s := range story {
		b.WriteString(s + "\n")
	}
	keys := make([]string, 0, len(flows))
	for k := range flows {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		b.WriteString("\n# " + k + "\n")
		for _, l := range flows[k] {
			b.WriteString(l + "\n")
		}
	}
	if len(errs) > 0 {
		slices.Sort(errs)
		b.WriteString("\n# errors\n" + strings.Join(slices.Compact(errs), "\n") + "\n")
	}
	return b.String()
}
