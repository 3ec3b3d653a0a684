package h225ras

import (
	"fmt"
	"strings"
)

// Summary is a one-line description of m for the trace, e.g.
// "RRQ keepAlive ep 1001-3 ttl 60s" or "RRJ fullRegistrationRequired".
// It leaves requestSeqNum out, so a retransmission or the next keep-alive
// reads the same (the scenario goldens count repeats once).
func Summary(m Message) string {
	var b strings.Builder
	b.WriteString(m.Kind().String())
	switch m := m.(type) {
	case *GRQ:
		aliasesTo(&b, m.EndpointAlias)
	case *GCF:
		fmt.Fprintf(&b, " %s %s", m.GatekeeperID, m.RASAddress)
	case *GRJ:
		fmt.Fprintf(&b, " %s", m.Reason)
	case *RRQ:
		aliasesTo(&b, m.TerminalAlias)
		if m.KeepAlive {
			b.WriteString(" keepAlive")
		}
		if m.EndpointID != "" {
			fmt.Fprintf(&b, " ep %s", m.EndpointID)
		}
		if m.TimeToLive != 0 {
			fmt.Fprintf(&b, " ttl %ds", m.TimeToLive)
		}
	case *RCF:
		fmt.Fprintf(&b, " ep %s", m.EndpointID)
		if m.TimeToLive != 0 {
			fmt.Fprintf(&b, " ttl %ds", m.TimeToLive)
		}
	case *RRJ:
		fmt.Fprintf(&b, " %s", m.Reason)
	case *URQ:
		aliasesTo(&b, m.EndpointAlias)
		if m.EndpointID != "" {
			fmt.Fprintf(&b, " ep %s", m.EndpointID)
		}
		if m.Reason != nil {
			fmt.Fprintf(&b, " %s", *m.Reason)
		}
	case *URJ:
		fmt.Fprintf(&b, " %s", m.Reason)
	}
	return b.String()
}

func aliasesTo(b *strings.Builder, as []Alias) {
	for _, a := range as {
		b.WriteString(" " + a.String())
	}
}

// TraceSummaries is the trace's summariser for RAS datagrams (sim's
// Config.Summarizers): one line, or what was wrong with the datagram.
func TraceSummaries(b []byte) []string {
	m, err := Decode(b)
	if err != nil {
		return []string{"RAS: " + strings.TrimPrefix(err.Error(), "h225ras: ")}
	}
	return []string{Summary(m)}
}
