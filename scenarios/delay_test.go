package scenarios

import (
	"os"
	"strings"
	"testing"
)

// TestRecordingOnADelayedRTPLink: with the forked RTP from 7434 to the
// recorder 100 ms late (a real network's latency), both recordings of
// dynamic-mapping still hold every packet the phone forked: the recorder
// keeps each file open after its BYE is answered for a grace derived from
// the measured round trip (recorder/drain.go), and the copies the phone
// forked just before its call socket closed are still delivered.
func TestRecordingOnADelayedRTPLink(t *testing.T) {
	src, err := os.ReadFile("library/dynamic-mapping.yaml")
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(src), "steps:\n",
		"steps:\n  - impair: {between: [\"7434\", recorder], proto: RTP, delay: 100ms}\n", 1)
	s, err := Parse("dynamic-mapping-delayed.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	_, out, err := run(t, s)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{
		"impair 7434 ↔ recorder RTP: delay 100ms",
		"PASS  recording of 7434 (1001): the sidecars of its 2 recordings add up to what the phone forked, none twice",
		"more for what the phone forked before it stopped",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the flow lacks %q", want)
		}
	}
}
