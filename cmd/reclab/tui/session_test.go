package tui

import (
	"context"
	tea "github.com/charmbracelet/bubbletea"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/reclab/reclab/sim"
)

// Two TUI starts in the same second, each on its own session folder: both
// folders keep their capture (issue 12: a start truncated the previous
// session's lab.pcap).
func TestTUIStartedTwiceKeepsBothSessionFolders(t *testing.T) {
	base := t.TempDir()
	now := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	var dirs []string
	for range 2 {
		dir, err := SessionDir(base, now)
		if err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, dir)
		// q as soon as the screen is up; the lab starts and closes.
		in, w := io.Pipe()
		go func() { w.Write([]byte("q")) }()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		err = Run(ctx, Options{OutDir: dir, Input: in, Output: io.Discard})
		cancel()
		w.Close()
		if err != nil {
			t.Fatalf("run in %s: %v", dir, err)
		}
	}
	if dirs[0] == dirs[1] {
		t.Fatalf("both starts wrote %s", dirs[0])
	}
	if !strings.HasSuffix(dirs[1], "20261202-090000-2") {
		t.Errorf("second session folder %s, want …/20261202-090000-2", dirs[1])
	}
	for _, d := range dirs {
		fi, err := os.Stat(filepath.Join(d, "lab.pcapng"))
		if err != nil {
			t.Fatal(err)
		}
		// A pcapng section header and interface blocks at least: a
		// truncated file was 24 bytes.
		if fi.Size() < 100 {
			t.Errorf("%s: %d bytes", fi.Name(), fi.Size())
		}
	}
	if entries, _ := os.ReadDir(base); len(entries) != 2 {
		t.Errorf("%d folders in %s, want 2", len(entries), base)
	}
}

// m switches the recorder's mapping (spec §3.1): the lab is closed and
// built anew with the other one, and the Nodes pane says which.
func TestMappingSwitchRebuildsTheLab(t *testing.T) {
	m, _ := ready(t)
	var asked []string
	m.relab = func(mapping string) (Backend, error) {
		asked = append(asked, mapping)
		nb := newFakeBackend()
		nb.nodes.RecMapping = mapping
		return nb, nil
	}
	_, cmd := m.Update(key("m"))
	if cmd == nil {
		t.Fatalf("m started nothing: %s", m.status)
	}
	msg := cmd()
	_, next := m.Update(msg)
	if len(asked) != 1 || asked[0] != "static" || m.snap.RecMapping != "static" {
		t.Fatalf("asked %v, mapping shown %q", asked, m.snap.RecMapping)
	}
	if !strings.Contains(m.status, "recorder mapping now static (spec §3.1)") || next == nil {
		t.Fatalf("status %q", m.status)
	}
	m.sub.Close()
}

// A prompt wider than the screen keeps what is typed in sight and marks
// the cut (issue 12: the impairment hint was cut without a mark).
func TestLongPromptKeepsTheTypedEnd(t *testing.T) {
	m, _ := ready(t)
	m.Update(tea.WindowSizeMsg{Width: 40, Height: 12})
	m.Update(key("I"))
	for _, r := range "7434 pbx drop 50% sip" {
		m.Update(key(string(r)))
	}
	got := m.statusLine()
	if !strings.HasPrefix(got, "…") || !strings.HasSuffix(got, "7434 pbx drop 50% sip█") || len([]rune(got)) != 40 {
		t.Fatalf("status line %q", got)
	}
	m.sub.Close()
}

// A host stall is told as a stall with its length, in the Log and as a
// row of its own on the ladder, where the streams are (issue 12), with no
// column of its own and its cause in Detail.
func TestHostStallShowsInTheLog(t *testing.T) {
	m, _ := ready(t)
	cols := len(m.cols.names)
	st := sim.HostStall{Length: 2500 * time.Millisecond}
	m.Update(batchMsg{events: []sim.Event{{At: time.Second, Kind: sim.KindState, Proto: sim.ProtoLab, From: "lab", Summary: st.String(), State: st}}})
	if l := m.logs[len(m.logs)-1]; !strings.Contains(l.text, "host stall") || !strings.Contains(l.text, "2.5s") {
		t.Fatalf("last log line %+v", l)
	}
	m.Update(key("G")) // the newest row
	if !strings.Contains(m.View(), "host stall 2.5s: the lab ran nothing, RTP streams not stopped") {
		t.Fatalf("no stall row on the ladder:\n%s", m.View())
	}
	if len(m.cols.names) != cols {
		t.Fatalf("the stall made a column: %q", m.cols.names)
	}
	if why := m.why[len(m.why)-1]; !strings.Contains(why, "ran nothing") {
		t.Fatalf("the stall's why %q", why)
	}
	for _, text := range []string{"rtp", "7434 rtp"} {
		f, err := parseFilter(text, m.snap)
		if err != nil {
			t.Fatal(err)
		}
		m.filter = f
		m.refilter()
		if len(m.rows) == 0 || !isStall(m.events[m.rows[len(m.rows)-1]]) {
			t.Fatalf("filter %q hides the stall", text)
		}
	}
	m.sub.Close()
}

// Step mode holds the story's SIP, CSTA and HTTP and lets the keep-alives
// flow: their timers run on, and a held OPTIONS would log the phone off
// (spec §3.2.6), a held SystemStatus drop the CSTA link.
func TestStepModeLetsKeepAlivesFlow(t *testing.T) {
	for _, tc := range []struct {
		msg   string
		proto sim.Proto
		held  bool
	}{
		{"INVITE sip:1005@127.20.0.1 SIP/2.0\r\nCSeq: 1 INVITE\r\n\r\n", sim.ProtoSIP, true},
		{"SIP/2.0 180 Ringing\r\nCSeq: 1 INVITE\r\n\r\n", sim.ProtoSIP, true},
		{"OPTIONS sip:127.20.0.1 SIP/2.0\r\nCSeq: 7 OPTIONS\r\n\r\n", sim.ProtoSIP, false},
		{"SIP/2.0 200 OK\r\nCSeq: 7 OPTIONS\r\n\r\n", sim.ProtoSIP, false},
		{"UPDATE sip:1002@127.20.1.2:7300 SIP/2.0\r\nCSeq: 2 UPDATE\r\n\r\n", sim.ProtoSIP, false},
		{"SIP/2.0 200 OK\r\nCSeq: 2 UPDATE\r\n\r\n", sim.ProtoSIP, false},
		{"BYE sip:1002@127.20.1.2:7300 SIP/2.0\r\nCSeq: 3 BYE\r\n\r\n", sim.ProtoSIP, true},
		{"\x80\x00", sim.ProtoRTP, false},
		{"\x00\x00\x00\x4f9999<EstablishedEvent xmlns=\"http://www.ecma-international.org/standards/ecma-323/csta/ed4\">", sim.ProtoCSTA, true},
		{"\x00\x00\x00\x4a0007<SystemStatus xmlns=\"http://www.ecma-international.org/standards/ecma-323/csta/ed4\">", sim.ProtoCSTA, false},
		{"\x00\x00\x00\x4a0007<SystemStatusResponse xmlns=\"http://www.ecma-international.org/standards/ecma-323/csta/ed4\"/>", sim.ProtoCSTA, false},
		{"GET /record?page=START&OPN=1002 HTTP/1.1\r\nHost: 127.20.0.2:8080\r\n\r\n", sim.ProtoHTTP, true},
	} {
		if got := storyMessage(tc.proto, []byte(tc.msg)); got != tc.held {
			t.Errorf("%q: held %v, want %v", tc.msg, got, tc.held)
		}
	}
}
