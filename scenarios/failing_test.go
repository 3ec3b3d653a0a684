package scenarios

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// A wait that fails names what came instead (issue 19): the story calls a
// powered-off phone and waits for 408; the PBX answers 480, and the failure
// says so with its time.
func TestFailingWaitNamesWhatCameInstead(t *testing.T) {
	path := filepath.Join("testdata", "failing", "called-powered-off.yaml")
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Parse(path, src)
	if err != nil {
		t.Fatal(err)
	}
	res, log, err := run(t, s)
	if err == nil {
		t.Fatalf("the story passed although nothing sends 408:\n%s", log)
	}
	if !res.Started {
		t.Fatalf("the lab did not start: %v", err)
	}
	msg := err.Error()
	t.Logf("the failure: %s", msg)
	want := regexp.MustCompile(`step 3 \(\S+called-powered-off.yaml:14:5\) wait: wanted pbx → 7434 SIP 408 within 15s; ` +
		`saw pbx → 7434 SIP 480 Temporarily Unavailable \(INVITE\) at [0-9]+\.[0-9]{3}s`)
	if !want.MatchString(msg) {
		t.Errorf("the failure does not name the 480 that came:\n%s\nwant it to match %s", msg, want)
	}
	if !strings.Contains(log, "FAIL  step 3") {
		t.Errorf("the printed flow lacks the failure:\n%s", log)
	}
}
