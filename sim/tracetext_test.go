package sim

import (
	"strings"
	"testing"
)

// A message's content never breaks a trace line (issue 19: a sipgo error
// with a newline in it split its line in two).
func TestTraceLineIsOneLine(t *testing.T) {
	cases := []struct{ in, want string }{
		{"INVITE sip:1002@127.20.0.1", "INVITE sip:1002@127.20.0.1"},
		{"read udp: message too big\nnext line", `read udp: message too big\nnext line`},
		{"a\r\nb\tc\x00d\x1be", `a\r\nb\tc\x00d\x1be`},
		{"sep\u2028and\u2029", `sep\u2028and\u2029`},
		{"Grüße 7434 → recorder", "Grüße 7434 → recorder"},
	}
	for _, c := range cases {
		if got := CleanText(c.in); got != c.want {
			t.Errorf("CleanText(%q) = %q, want %q", c.in, got, c.want)
		}
		for _, k := range []Kind{KindMessage, KindNote, KindError, KindState} {
			line := Event{Kind: k, Proto: ProtoSIP, From: "pbx\n", To: "7434", Summary: c.in}.String()
			if strings.ContainsAny(line, "\n\r\x00\u2028") {
				t.Errorf("%s event of %q prints %q: more than one line", k, c.in, line)
			}
		}
	}
}
