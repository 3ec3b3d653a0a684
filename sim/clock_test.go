package sim

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

var epoch = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func TestManualClockFiresInDeadlineOrder(t *testing.T) {
	c := NewManualClock(epoch)
	var got []string
	at := func(name string) func() {
		return func() { got = append(got, fmt.Sprintf("%s@%s", name, c.Since(epoch))) }
	}
	c.AfterFunc(300*time.Millisecond, at("c"))
	c.AfterFunc(100*time.Millisecond, at("a"))
	c.AfterFunc(100*time.Millisecond, at("b")) // same deadline: set after a, fires after a
	stopped := c.AfterFunc(200*time.Millisecond, at("never"))
	c.AfterFunc(150*time.Millisecond, func() {
		got = append(got, "d@150ms")
		c.AfterFunc(50*time.Millisecond, at("e")) // due within the same Advance
	})
	if !stopped.Stop() {
		t.Fatal("Stop of a pending timer reported false")
	}
	c.Advance(250 * time.Millisecond)
	if want := "a@100ms b@100ms d@150ms e@200ms"; strings.Join(got, " ") != want {
		t.Fatalf("fired %q, want %q", strings.Join(got, " "), want)
	}
	if c.Since(epoch) != 250*time.Millisecond {
		t.Fatalf("clock at %s after Advance(250ms)", c.Since(epoch))
	}
	if c.Pending() != 1 {
		t.Fatalf("pending %d, want 1 (c)", c.Pending())
	}
	c.Advance(time.Second)
	if got[len(got)-1] != "c@300ms" {
		t.Fatalf("last fired %q, want c@300ms", got[len(got)-1])
	}
}

func TestManualTickerDropsMissedTicks(t *testing.T) {
	c := NewManualClock(epoch)
	tk := c.NewTicker(20 * time.Millisecond)
	c.Advance(20 * time.Millisecond)
	if v := <-tk.C; !v.Equal(epoch.Add(20 * time.Millisecond)) {
		t.Fatalf("first tick at %s", v.Sub(epoch))
	}
	// Nobody reads for 5 periods: one tick waits, the rest are dropped.
	c.Advance(100 * time.Millisecond)
	if v := <-tk.C; v.Sub(epoch) != 40*time.Millisecond {
		t.Fatalf("waiting tick from %s, want the first missed one (40ms)", v.Sub(epoch))
	}
	select {
	case v := <-tk.C:
		t.Fatalf("a second stale tick %s", v.Sub(epoch))
	default:
	}
	c.Advance(20 * time.Millisecond)
	if v := <-tk.C; v.Sub(epoch) != 140*time.Millisecond {
		t.Fatalf("tick after the stall at %s, want 140ms", v.Sub(epoch))
	}
	tk.Stop()
	c.Advance(time.Second)
	select {
	case v := <-tk.C:
		t.Fatalf("tick %s after Stop", v.Sub(epoch))
	default:
	}
}

func TestManualTimerResetDrops(t *testing.T) {
	c := NewManualClock(epoch)
	tm := c.NewTimer(10 * time.Millisecond)
	c.Advance(10 * time.Millisecond)
	if tm.Reset(50 * time.Millisecond) {
		t.Fatal("Reset of a fired timer reported it pending")
	}
	c.Advance(40 * time.Millisecond)
	select {
	case v := <-tm.C:
		t.Fatalf("stale or early value %s after Reset", v.Sub(epoch))
	default:
	}
	c.Advance(10 * time.Millisecond)
	if v := <-tm.C; v.Sub(epoch) != 60*time.Millisecond {
		t.Fatalf("fired at %s, want 60ms", v.Sub(epoch))
	}
}

// The scaled clock's timers keep their lab-time deadlines across a rate
// change; only the order of events is asserted, never a wall time.
func TestScaledClockPauseAndResume(t *testing.T) {
	c := NewScaledClock(1)
	c.SetRate(0)
	frozen := c.Now()
	fired := make(chan time.Time, 1)
	c.AfterFunc(time.Millisecond, func() { fired <- c.Now() })
	paused := c.NewTimer(time.Millisecond) // watched below: must not fire while paused
	for range 1000 {
		if !c.Now().Equal(frozen) {
			t.Fatal("a paused clock moved")
		}
	}
	select {
	case <-paused.C:
		t.Fatal("a timer fired on a paused clock")
	default:
	}
	c.SetRate(4)
	at := <-fired
	if at.Sub(frozen) < time.Millisecond {
		t.Fatalf("fired %s after the pause, before its 1ms deadline", at.Sub(frozen))
	}
	<-paused.C
	if c.Rate() != 4 {
		t.Fatalf("rate %v", c.Rate())
	}
}

func TestRealClockTimers(t *testing.T) {
	c := Real()
	start := c.Now()
	done := make(chan struct{})
	c.AfterFunc(time.Millisecond, func() { close(done) })
	<-done
	tk := c.NewTicker(time.Millisecond)
	<-tk.C
	tk.Stop()
	if c.Since(start) < time.Millisecond {
		t.Fatal("real clock did not move")
	}
}
