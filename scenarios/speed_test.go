package scenarios

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/reclab/reclab/lab"
	"github.com/reclab/reclab/sim"
)

// TestSpeedRunsTheLabClock: --speed 4 runs the lab clock four times as
// fast; the story's timers keep their lab-time values. The recorder's 2 s
// keep-alive UPDATE comes 2 s of lab time after the session's ACK (not
// 0.5 s, as when a speed divided the timers), and the trace reads in lab
// time.
func TestSpeedRunsTheLabClock(t *testing.T) {
	s, err := Parse("speed.yaml", []byte(`name: speed
lab:
  phones:
    - {name: "7434", ext: "1001", model: "7434"}
    - {name: 6867i, ext: "1002", model: 6867i, config: {sip local port: 5070}}
  recorder: {mapping: dynamic, monitored: ["1001"]}
  timers: {keep-alive: 2s, answer-timeout: 20s}
steps:
  - dial: {phone: "7434", to: 6867i}
  - wait: {from: pbx, to: "7434", proto: SIP, response: 180}
  - answer: 6867i
  - wait: {from: recorder, to: "7434", proto: SIP, method: UPDATE, timeout: 10s}
  - wait: {from: "7434", to: recorder, proto: SIP, method: UPDATE, response: 200, timeout: 10s}
  - hang-up: "7434"
`))
	if err != nil {
		t.Fatal(err)
	}
	ack := Matcher{From: "recorder", To: "7434", Proto: "SIP", Method: "ACK"}
	update := Matcher{From: "recorder", To: "7434", Proto: "SIP", Method: "UPDATE"}
	var (
		mu       sync.Mutex
		acked    time.Duration = -1
		updateAt time.Duration = -1
		clock    sim.Clock
	)
	var log bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := Execute(ctx, s, Options{OutDir: t.TempDir(), Log: &log, Speed: 4, NetDelay: testNetDelay(t),
		OnLab: func(l *lab.Lab) error {
			clock = l.Net.Clock()
			sub := l.Net.Trace().Subscribe(1024, true)
			go func() {
				for e := range sub.C {
					mu.Lock()
					switch {
					case acked < 0 && ack.Match(e):
						acked = e.At
					case acked >= 0 && updateAt < 0 && update.Match(e):
						updateAt = e.At
					}
					mu.Unlock()
				}
			}()
			return nil
		}})
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	if len(res.Failures) > 0 {
		t.Fatalf("failures: %v\n%s", res.Failures, log.String())
	}
	if sc, ok := clock.(*sim.ScaledClock); !ok || sc.Rate() != 4 {
		t.Fatalf("the lab clock is %T, want a sim.ScaledClock at rate 4", clock)
	}
	mu.Lock()
	defer mu.Unlock()
	if acked < 0 || updateAt < 0 {
		t.Fatalf("saw no ACK (%v) or no UPDATE after it (%v)\n%s", acked, updateAt, log.String())
	}
	// The timer is armed as the ACK goes out; the trace stamps the ACK
	// when it is written, a moment later.
	if gap := updateAt - acked; gap < 1900*time.Millisecond {
		t.Errorf("keep-alive UPDATE %v after the ACK in lab time, want 2s (the story's keep-alive)", gap)
	}
}
