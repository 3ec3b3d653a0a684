package tui

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"sync"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/reclab/reclab/lab"
	"github.com/reclab/reclab/sim"
)

// drawFPS is the renderer's frame rate: the model changes at most every
// drainEvery (20 Hz), so faster frames would only wake the process.
const drawFPS = 20

// Options for Run.
type Options struct {
	OutDir   string       // pcap, recordings, config files and exports; required
	Topology lab.Topology // default lab.UIDefault()
	// Scenario, when named, is run at once on a lab of its own instead of
	// the UI's lab; its files go to OutDir/NAME.
	Scenario ScenarioRequest
	HEP      netip.AddrPort // a HEP collector for the lab's SIP (lab.Options.HEP)
	// NetDelay gives every link of the lab, and of each scenario's lab,
	// its own delay (sim.LinkDelays); zero: none.
	NetDelay sim.LinkDelays
	// Input and Output replace the terminal (tests); nil: the terminal.
	Input  io.Reader
	Output io.Writer
	// Place, when set, moves the UI's lab and each scenario's lab to
	// other addresses (reclab tui --net) before it is built.
	Place func(*lab.Topology)
}

// Relabber is what the m key calls: the recorder's mapping is fixed when
// its lab is built (spec §3.1), so switching it builds topo's lab anew with
// the other mapping, its files in a folder of its own beside the first
// lab's (dir/lab-N-MAPPING), on a clock whose rate + and - change. The
// returned lab is not started.
func Relabber(topo lab.Topology, dir string, o lab.Options) func(mapping string) (Backend, error) {
	n := 1
	return func(mapping string) (Backend, error) {
		n++
		t := topo
		t.Recorder.Mapping = mapping
		sub := filepath.Join(dir, fmt.Sprintf("lab-%d-%s", n, mapping))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			return nil, err
		}
		o := o
		o.OutDir, o.Pcap, o.Clock = sub, true, sim.NewScaledClock(1)
		l, err := lab.Build(t, o)
		if err != nil {
			return nil, err
		}
		return closingBackend{Backend: NewLabBackend(l, sub), close: sync.OnceValue(l.Close)}, nil
	}
}

// Run builds the lab, opens the UI on the terminal and returns when the user
// quits; the lab is then closed and the pcap flushed. The terminal is
// restored on quit and on Ctrl-C.
func Run(ctx context.Context, opt Options) error {
	if opt.OutDir == "" {
		return fmt.Errorf("tui: no output directory")
	}
	topo := opt.Topology
	if len(topo.Phones) == 0 {
		topo = lab.UIDefault()
	}
	if opt.Place != nil {
		opt.Place(&topo)
	}
	dir, err := filepath.Abs(opt.OutDir)
	if err != nil {
		return fmt.Errorf("tui: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("tui: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	scens := libraryScenarios{out: dir, netDelay: opt.NetDelay, place: opt.Place}
	var m *Model
	if opt.Scenario.Name != "" {
		run, err := LaunchScenario(ctx, scens, opt.Scenario)
		if err != nil {
			return err
		}
		m = New(ctx, run.Backend)
		m.StartScenario(run)
	} else {
		// A clock whose rate the user changes while the lab runs (+ and -).
		l, err := lab.Build(topo, lab.Options{OutDir: dir, Pcap: true, HEP: opt.HEP, NetDelay: opt.NetDelay,
			Clock: sim.NewScaledClock(1)})
		if err != nil {
			return err
		}
		m = New(ctx, closingBackend{Backend: NewLabBackend(l, dir), close: sync.OnceValue(l.Close)})
		m.relab = Relabber(topo, dir, lab.Options{HEP: opt.HEP, NetDelay: opt.NetDelay})
	}
	first := m.b
	m.SetScenarios(scens)
	popts := []tea.ProgramOption{tea.WithAltScreen(), tea.WithContext(ctx), tea.WithFPS(drawFPS)}
	if opt.Input != nil {
		popts = append(popts, tea.WithInput(opt.Input))
	}
	if opt.Output != nil {
		popts = append(popts, tea.WithOutput(opt.Output))
	}
	_, runErr := tea.NewProgram(m, popts...).Run()
	cancel()
	// The lab in use, and the first one if a scenario's launch was still
	// closing it (closing twice is closing once).
	closeErr := errors.Join(closeBackend(m.b), closeBackend(first))
	if runErr != nil {
		return fmt.Errorf("tui: %w", runErr)
	}
	return closeErr
}
