package tui

import (
	"fmt"
	"strings"
	"time"

	"github.com/reclab/reclab/scenarios"
	"github.com/reclab/reclab/sim"
)

// mermaid writes the session's ladder as a Mermaid sequence diagram: one
// participant per column, solid arrows for signalling, dotted for RTP
// streams, a cross for dropped packets, scenario narration as notes.
func mermaid(cols []string, events []sim.Event) string {
	var b strings.Builder
	b.WriteString("sequenceDiagram\n")
	c := newColumns(cols...)
	// Participants first, in column order, including nodes only events name.
	for _, e := range events {
		if isLadder(e) {
			c.of(e.From)
			c.of(e.To)
		}
	}
	for i, n := range c.names {
		fmt.Fprintf(&b, "    participant n%d as %s\n", i, scenarios.MermaidText(n))
	}
	for _, e := range events {
		switch {
		case isLadder(e):
			arrow := "->>"
			switch {
			case e.Kind == sim.KindDropped:
				arrow = "-x"
			case e.Proto == sim.ProtoRTP:
				arrow = "-->>"
			}
			fmt.Fprintf(&b, "    n%d%sn%d: %s %s\n", c.of(e.From), arrow, c.of(e.To), e.Proto, scenarios.MermaidText(summaryText(e, false)))
		case e.Kind == sim.KindNote && e.From == "scenario":
			fmt.Fprintf(&b, "    Note over n0,n%d: %s\n", len(c.names)-1, scenarios.MermaidText(e.Summary))
		}
	}
	return b.String()
}

// report writes a Markdown report of the session: the nodes as they stand,
// counts per protocol, problems, and every message.
// problems are the session's error events (the model keeps the first
// maxProblems of them), total how many there were in all.
func report(now time.Time, out string, snap Snapshot, events, problems []sim.Event, total int, lost uint64) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# reclab session report\n\nWritten %s. Output directory `%s` (the pcap of every packet is `lab.pcapng` there).\n\n",
		now.UTC().Format(time.RFC3339), out)
	b.WriteString("## Phones\n\n| phone | extension | model | recording address | powered | registered | call | recording | calls | recording sessions |\n|---|---|---|---|---|---|---|---|---|---|\n")
	for _, p := range snap.Phones {
		s := p.State
		call := s.Call.String()
		if s.Remote != "" {
			call += " " + s.Remote
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s:%d | %s | %s | %s | %s | %d | %d |\n", p.Name, p.Ext, p.Model, p.Addr, p.RecPort,
			yesNo(s.Powered), yesNo(s.Registered), call, s.Recording, s.Calls, s.RecordingSessions)
	}
	fmt.Fprintf(&b, "\n## PBX and recorder\n\n- PBX: %d registrations, %d calls in progress\n- recorder: %s mapping, %d devices known over CSTA, %d sessions up, %d recordings written\n",
		snap.PBXRegs, len(snap.PBXCalls), snap.RecMapping, snap.RecDevices, snap.RecSessions, snap.RecFiles)
	counts := map[string]int{}
	for _, e := range events {
		if isLadder(e) {
			counts[e.Proto.String()+" "+e.Kind.String()]++
		}
	}
	b.WriteString("\n## Counts\n\n| protocol / kind | events |\n|---|---|\n")
	for _, p := range []sim.Proto{sim.ProtoSIP, sim.ProtoRAS, sim.ProtoCSTA, sim.ProtoHTTP, sim.ProtoRTP, sim.ProtoOther} {
		for _, k := range []sim.Kind{sim.KindMessage, sim.KindStreamStart, sim.KindStreamStop, sim.KindDropped} {
			if n := counts[p.String()+" "+k.String()]; n > 0 {
				fmt.Fprintf(&b, "| %s %s | %d |\n", p, k, n)
			}
		}
	}
	if lost > 0 {
		fmt.Fprintf(&b, "\nThe display missed %d events while it was busy; the pcap has every packet.\n", lost)
	}
	fmt.Fprintf(&b, "\n## Problems\n\nErrors (a node's, or an action the lab refused) and warnings (a SIP error response, a packet an impairment dropped), in the order they came.\n\n")
	if total == 0 {
		b.WriteString("None.\n")
	}
	for _, e := range problems {
		kind, _ := problemKind(e)
		at := "      -"
		if e.At >= 0 {
			at = fmt.Sprintf("%7.3f", e.At.Seconds())
		}
		who := e.From
		if e.To != "" {
			who += " → " + e.To
		}
		fmt.Fprintf(&b, "- %s %s %s: %s\n", at, kind, who, summaryText(e, false))
	}
	if more := total - len(problems); more > 0 {
		fmt.Fprintf(&b, "- … and %d more (the first %d are listed; trace the pcap for the rest)\n", more, len(problems))
	}
	b.WriteString("\n## Flow\n\n| time | from | to | protocol | message |\n|---|---|---|---|---|\n")
	for _, e := range events {
		if isLadder(e) {
			fmt.Fprintf(&b, "| %.3f | %s | %s | %s | %s |\n", e.At.Seconds(), e.From, e.To, e.Proto,
				strings.ReplaceAll(summaryText(e, false), "|", `\|`))
		}
	}
	return b.String()
}

// problemKind says whether an event is an error or a warning of the
// session for the report: a node's error, a failed action (the UI's own
// error events), a SIP error response (4xx–6xx), a packet an impairment
// dropped.
func problemKind(e sim.Event) (string, bool) {
	switch {
	case e.Kind == sim.KindError:
		if e.From == "ui" {
			return "ERROR (action)", true
		}
		return "ERROR", true
	case e.Kind == sim.KindDropped:
		return "warning (dropped)", true
	case e.Kind == sim.KindMessage && e.Proto == sim.ProtoSIP && len(e.Summary) >= 3 &&
		e.Summary[0] >= '4' && e.Summary[0] <= '6' && e.Summary[1] >= '0' && e.Summary[1] <= '9' && e.Summary[2] >= '0' && e.Summary[2] <= '9':
		return "warning (SIP " + e.Summary[:3] + ")", true
	}
	return "", false
}

func yesNo(v bool) string {
	if v {
		return "yes"
	}
	return "no"
}
