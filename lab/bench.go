package lab

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
)

// BenchFirstExt is the first extension of a bench lab; phone i has
// BenchFirstExt+i.
const BenchFirstExt = 10001

// BenchMaxPhones is how many phones fit in 127.20.1.1 … 127.20.255.254 with
// the .0 and .255 host bytes left out.
const BenchMaxPhones = 255 * 254

// benchModels alternate across a bench lab so both recording-port rules of
// spec §3.2 are exercised: a 7434 takes recording INVITEs on a second SIP
// stack at the fixed port 7300, a 6867i on its one stack.
var benchModels = [...]string{"7434", "6867i"}

// Bench is the lab of `reclab bench`: n phones named p10001, p10002, … with
// extensions 10001, 10002, …, alternately a 7434 and a 6867i, on
// 127.20.1.1 upwards (see NextPhoneAddr). monitored is the fraction of
// phones the recorder monitors (0 … 1, spread evenly over the phones, so
// callers and callees are monitored alike); mapping is "dynamic" or
// "static" (spec §3.1). The PBX is built without pcap by the bench (Options
// Pcap false) and the trace ring is bounded by Options.TraceCapacity.
func Bench(n int, monitored float64, mapping string) (Topology, error) {
	if n < 1 || n > BenchMaxPhones {
		return Topology{}, fmt.Errorf("lab: bench phones %d: want 1 … %d", n, BenchMaxPhones)
	}
	if monitored < 0 || monitored > 1 {
		return Topology{}, fmt.Errorf("lab: bench monitored fraction %g: want 0 … 1", monitored)
	}
	t := Topology{Recorder: RecorderSpec{Mapping: mapping}}
	for i := range n {
		ext := fmt.Sprint(BenchFirstExt + i)
		t.Phones = append(t.Phones, PhoneSpec{Name: "p" + ext, Ext: ext, Model: benchModels[i%len(benchModels)]})
	}
	for _, i := range spread(n, monitored) {
		t.Recorder.Monitored = append(t.Recorder.Monitored, t.Phones[i].Ext)
	}
	if len(t.Recorder.Monitored) == 0 {
		// An empty list means "every phone" to Build; a bench with nothing
		// monitored monitors an extension no phone has.
		t.Recorder.Monitored = []string{"0"}
	}
	return t, nil
}

// spread picks round(n*f) indices of 0 … n-1, evenly spaced.
func spread(n int, f float64) []int {
	var out []int
	prev := 0
	for i := range n {
		if k := int(float64(i+1)*f + 0.5); k > prev {
			out = append(out, i)
			prev = k
		}
	}
	return out
}

// NextPhoneAddr is the address after ip in the phone plan: 127.20.1.1,
// 127.20.1.2, … 127.20.1.254, 127.20.2.1, … The .0 and .255 host bytes are
// skipped: they are ordinary loopback addresses on Linux, but readers (and
// other tools) take them for network and broadcast addresses.
func NextPhoneAddr(ip netip.Addr) netip.Addr {
	for {
		ip = ip.Next()
		if a := ip.As4(); a[3] != 0 && a[3] != 255 {
			return ip
		}
	}
}

// PowerOnAll powers every phone on, workers at a time.
func (l *Lab) PowerOnAll(workers int) error {
	return l.eachPhone(context.Background(), workers, func(_ context.Context, i int) error {
		return l.Phones[i].PowerOn()
	})
}

// RegisterAll registers every phone, workers REGISTERs in flight at a time,
// and returns when all are registered or the first one failed.
func (l *Lab) RegisterAll(ctx context.Context, workers int) error {
	return l.eachPhone(ctx, workers, func(ctx context.Context, i int) error {
		return l.Phones[i].Register(ctx)
	})
}

// eachPhone runs do for every phone index on workers goroutines and returns
// the first error (the rest of the work is then skipped).
func (l *Lab) eachPhone(ctx context.Context, workers int, do func(context.Context, int) error) error {
	if workers < 1 {
		workers = 1
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(workers, len(l.Phones)) {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= len(l.Phones) {
					return
				}
				if err := do(ctx, i); err != nil {
					cancel(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return ctx.Err()
}
