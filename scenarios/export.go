package scenarios

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/reclab/reclab/sim"
)

// jsonEvent is one line of trace.jsonl.
type jsonEvent struct {
	Seq     uint64  `json:"seq"`
	At      float64 `json:"at"` // seconds on the lab clock
	Kind    string  `json:"kind"`
	Proto   string  `json:"proto"`
	Src     string  `json:"src,omitempty"`
	Dst     string  `json:"dst,omitempty"`
	From    string  `json:"from,omitempty"`
	To      string  `json:"to,omitempty"`
	Summary string  `json:"summary"`
	Packets uint64  `json:"packets,omitempty"`
	Message string  `json:"message,omitempty"` // signalling: the message as sent
	// A state event's value, with its Go type, e.g. "phones.RecordingState".
	StateType string    `json:"state_type,omitempty"`
	State     sim.State `json:"state,omitempty"`
}

func writeJSONL(w io.Writer, e sim.Event) {
	j := jsonEvent{Seq: e.Seq, At: e.At.Seconds(), Kind: e.Kind.String(), Proto: e.Proto.String(),
		From: e.From, To: e.To, Summary: e.Summary, Packets: e.Packets}
	if e.Src.IsValid() {
		j.Src = e.Src.String()
	}
	if e.Dst.IsValid() {
		j.Dst = e.Dst.String()
	}
	if e.Kind == sim.KindMessage && e.Proto != sim.ProtoRTP {
		j.Message = string(e.Bytes)
	}
	if e.State != nil {
		j.StateType, j.State = fmt.Sprintf("%T", e.State), e.State
	}
	b, _ := json.Marshal(j)
	w.Write(append(b, '\n'))
}

// participants are the diagram's lifelines: the lab's nodes in address
// plan order.
func (r *Run) participants() []string {
	out := []string{"pbx", "recorder"}
	for _, p := range r.Lab.Phones {
		out = append(out, p.Name())
	}
	if r.rogue != nil {
		out = append(out, "rogue")
	}
	return out
}

// baseNode maps a labelled port ("recorder tx") to its node.
func baseNode(name string, nodes []string) string {
	if slices.Contains(nodes, name) {
		return name
	}
	if i := strings.IndexByte(name, ' '); i > 0 && slices.Contains(nodes, name[:i]) {
		return name[:i]
	}
	return ""
}

var mermaidID = regexp.MustCompile(`[^A-Za-z0-9_]`)

func mid(name string) string { return "n_" + mermaidID.ReplaceAllString(name, "_") }

// MermaidText keeps a label of a Mermaid diagram on one statement: ';'
// would end it, '#' start an entity, a newline break it. The UI's export
// uses it too.
func MermaidText(s string) string {
	return strings.NewReplacer(";", ",", "#", "#35;", "\n", " ").Replace(s)
}

// Flow is a Mermaid sequence diagram of the run's signalling: SIP, CSTA
// and HTTP messages as arrows, RTP streams and the narration as notes.
func (r *Run) Flow() string {
	nodes := r.participants()
	var b strings.Builder
	b.WriteString("sequenceDiagram\n")
	for _, n := range nodes {
		fmt.Fprintf(&b, "    participant %s as %s\n", mid(n), n)
	}
	first, last := mid(nodes[0]), mid(nodes[len(nodes)-1])
	for _, e := range r.eventsSoFar() {
		from, to := baseNode(e.From, nodes), baseNode(e.To, nodes)
		switch e.Kind {
		case sim.KindMessage, sim.KindDropped:
			if from == "" || to == "" {
				continue
			}
			arrow := "->>"
			text := e.Proto.String() + " " + e.Summary
			if e.Kind == sim.KindDropped {
				arrow, text = "-x", "DROPPED "+text
			}
			fmt.Fprintf(&b, "    %s%s%s: %s\n", mid(from), arrow, mid(to), MermaidText(text))
		case sim.KindStreamStart, sim.KindStreamStop:
			if from == "" || to == "" {
				continue
			}
			what := "started"
			if e.Kind == sim.KindStreamStop {
				what = fmt.Sprintf("stopped, %d packets", e.Packets)
			}
			proto := "RTP"
			if strings.HasPrefix(e.Summary, "SRTP stream") {
				proto = "SRTP" // spec §1.3
			}
			fmt.Fprintf(&b, "    Note over %s,%s: %s %s → %s %s\n", mid(from), mid(to), proto, e.From, e.To, what)
		case sim.KindNote:
			if e.From == "scenario" && !isCheckOrWait(e.Summary) {
				fmt.Fprintf(&b, "    Note over %s,%s: %s\n", first, last, MermaidText(e.Summary))
			}
		}
	}
	return b.String()
}

func (r *Run) writeExports(res Result) error {
	flow := r.Flow()
	text := "# " + r.Scenario.Name + ": message flow\n\n" + r.Timeline() + "\n```mermaid\n" + flow + "```\n"
	if err := os.WriteFile(res.Flow, []byte(text), 0o644); err != nil {
		return fmt.Errorf("scenarios: %w", err)
	}
	if err := os.WriteFile(res.Report, []byte(r.report(res, flow)), 0o644); err != nil {
		return fmt.Errorf("scenarios: %w", err)
	}
	return nil
}

func (r *Run) report(res Result, flow string) string {
	s := r.Scenario
	var b strings.Builder
	verdict := "PASS"
	if len(res.Failures) > 0 {
		verdict = "FAIL"
	}
	fmt.Fprintf(&b, "# %s — %s\n\n", s.Name, verdict)
	fmt.Fprintf(&b, "Spec %s. %s\n\nSource: `%s`.\n\n", s.Section, s.Description, s.Source)

	b.WriteString("## Story\n\n")
	for _, e := range r.eventsSoFar() {
		if e.Kind == sim.KindNote && e.From == "scenario" && !isCheck(e.Summary) {
			fmt.Fprintf(&b, "- `%8.3f` %s\n", e.At.Seconds(), e.Summary)
		}
	}

	b.WriteString("\n## Checks\n\n| step | where | check | result |\n| --- | --- | --- | --- |\n")
	for _, c := range res.Checks {
		result := "PASS"
		if !c.Pass {
			result = "FAIL: " + c.Reason
		}
		fmt.Fprintf(&b, "| %d | %s:%d | %s | %s |\n", c.Step, filepath.Base(c.Pos.File), c.Pos.Line, mdCell(c.What), mdCell(result))
	}
	if len(r.fatal) > 0 {
		b.WriteString("\nThe story stopped:\n\n")
		for _, f := range r.fatal {
			fmt.Fprintf(&b, "- %s\n", f)
		}
	}

	b.WriteString("\n## Recordings\n\n")
	recs := keptRecordings(r.eventsSoFar())
	if len(recs) == 0 {
		b.WriteString("None.\n")
	} else {
		b.WriteString("| file | extension | model | call | duration | packets | lost | ended |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n")
		for _, rec := range recs {
			m := rec.Meta
			fmt.Fprintf(&b, "| %s | %s | %s | %s → %s | %.1fs | %d | %d | %s |\n", filepath.Base(rec.WAV), m.Extension, m.Model,
				m.Calling, m.Called, m.Stop.Sub(m.Start).Seconds(), m.Packets(), m.Lost(), mdCell(m.Reason))
		}
	}
	b.WriteString("\n## Message flow\n\n```mermaid\n" + flow + "```\n")
	b.WriteString("\nFiles: `lab.pcapng` (Wireshark), `trace.txt`, `trace.jsonl`, `flow.md`, `recordings/`.\n")
	return b.String()
}

func mdCell(s string) string { return strings.NewReplacer("|", "\\|", "\n", " ").Replace(s) }

// isCheck: the scenario note is a check result (the report tables those).
func isCheck(summary string) bool {
	return strings.HasPrefix(summary, "PASS  ") || strings.HasPrefix(summary, "FAIL  ")
}

// isCheckOrWait: the diagram shows narration and actions, not waits and
// check results.
func isCheckOrWait(summary string) bool {
	return isCheck(summary) || strings.HasPrefix(summary, "▸ wait")
}

// WriteJSONL writes e as one line of trace.jsonl's form (`reclab serve
// --json` prints the same).
func WriteJSONL(w io.Writer, e sim.Event) { writeJSONL(w, e) }
