package phones

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"

	"github.com/reclab/reclab/sim"
)

// Configuration and firmware update (spec §3.2.5).

// StageConfig stages cfg for the next update order (NOTIFY check-sync):
// the phone takes it instead of re-reading its configuration file. It is
// validated for the phone's model now, so a bad one is refused here.
func (p *Phone) StageConfig(cfg *Config) error {
	if cfg == nil {
		return p.errorf("stage config: no configuration")
	}
	c, err := ownConfig(cfg, p.model, p.opts.PBX)
	if err != nil {
		return err
	}
	p.do(func() { p.staged = &c })
	return nil
}

// nextConfig is the configuration an update order brings: the staged one,
// else the configuration file (Config.Source) read again; nil when there is
// nothing to read. An error names the file and what is wrong with it.
func (p *Phone) nextConfig() (*Config, error) {
	var staged *Config
	var src string
	p.do(func() {
		staged, src = p.staged, p.cfg.Source
		p.staged = nil
	})
	if staged != nil {
		return staged, nil
	}
	if src == "" {
		return nil, nil
	}
	f, err := os.Open(src)
	if err != nil {
		return nil, p.errorf("update: reading the configuration: %w", err)
	}
	defer f.Close()
	cfg, err := ParseConfig(src, f)
	if err != nil {
		return nil, err
	}
	c, err := ownConfig(cfg, p.model, p.opts.PBX)
	if err != nil {
		return nil, err
	}
	return &c, nil
}

// MajorChanges names what differs between two configurations of model m
// that makes a phone restart on an update order (spec §3.2.5: "if the
// firmware shall be updated or if there is a major change in the
// configuration file, the phone will restart"): the firmware version, the
// extension, the MAC address, the registrar, the SIP and recording ports
// and the recording allowed list. Anything else (softkeys, display name,
// registration period, ...) takes effect without a restart.
func MajorChanges(old, next *Config, m Model) []string {
	var out []string
	if firmwareOf(old) != firmwareOf(next) {
		out = append(out, fmt.Sprintf("firmware %s → %s", firmwareOf(old), firmwareOf(next)))
	}
	if old.User != next.User {
		out = append(out, fmt.Sprintf("%s %s → %s", cfgUser, old.User, next.User))
	}
	if old.MAC != next.MAC {
		out = append(out, cfgMAC)
	}
	if old.RegistrarAddrPort() != next.RegistrarAddrPort() {
		out = append(out, fmt.Sprintf("registrar %s → %s", old.RegistrarAddrPort(), next.RegistrarAddrPort()))
	}
	if old.SIPPort(m) != next.SIPPort(m) {
		out = append(out, fmt.Sprintf("%s %d → %d", cfgLocalPort, old.SIPPort(m), next.SIPPort(m)))
	}
	if old.RecordingPort(m) != next.RecordingPort(m) {
		out = append(out, fmt.Sprintf("recording port %d → %d", old.RecordingPort(m), next.RecordingPort(m)))
	}
	if !slices.Equal(old.RecordingAllowed, next.RecordingAllowed) {
		out = append(out, cfgRecordingAllowed)
	}
	return out
}

// checkSync carries out the PBX's update order (spec §3.2.5): unregister
// (BYE to the recorder if a session is up), read the configuration,
// restart when the firmware or a major item changed (every socket closed
// and opened again, on the new ports), register again.
func (p *Phone) checkSync(pw *powerCycle) {
	if !p.beginUpdate() {
		p.node.Note("update order ignored: an update is already running")
		return
	}
	defer p.endUpdate()
	p.node.Note("update order from the PBX: unregistering and reading the configuration (spec §3.2.5)")
	ctx, cancel := sim.WithTimeout(context.Background(), p.node.Clock(), byeTimeout)
	defer cancel()
	if p.State().Registered {
		if err := p.Unregister(ctx); err != nil {
			p.problem(p.opts.PBX, "%v", err)
		}
	}
	next, err := p.nextConfig()
	if err != nil {
		p.problem(netip.AddrPort{}, "%v; keeping the configuration in use", err)
	}
	if cur, _ := p.powered(); cur != pw {
		return // powered off meanwhile
	}
	if next != nil {
		var major []string
		p.do(func() { major = MajorChanges(&p.cfg, next, p.model) })
		if len(major) > 0 {
			if err := p.restartWith(next, strings.Join(major, ", ")+" (spec §3.2.5)"); err != nil {
				p.problem(netip.AddrPort{}, "%v", err)
				return
			}
		} else {
			p.do(func() { p.setConfigOnLoop(next) })
			p.node.Note("configuration re-read from %s: no firmware or major change, no restart", next.Source)
		}
	}
	npw, err := p.powered()
	if err != nil {
		return
	}
	rctx, rcancel := sim.WithTimeout(context.Background(), p.node.Clock(), p.answerTimeout())
	defer rcancel()
	p.registerOrKeepTrying(rctx, npw)
}

// restartWith restarts the phone on next (validated, its own): every
// socket closed, the configuration taken, every socket bound again. why is
// the note's reason.
func (p *Phone) restartWith(next *Config, why string) error {
	p.node.Note("restarting: %s", why)
	var err error
	p.do(func() {
		// One event: nothing comes between the power going and coming back.
		p.powerOffOnLoop()
		p.setConfigOnLoop(next)
		err = p.powerOnOnLoop()
	})
	if err != nil {
		return fmt.Errorf("restart: %w", err)
	}
	return nil
}

// beginUpdate marks an update order (or a RegisterAs, which restarts the
// same way) as running; false if one already is: one at a time.
func (p *Phone) beginUpdate() bool {
	ok := false
	p.do(func() {
		if ok = !p.updating; ok {
			p.updating = true
		}
	})
	return ok
}

// endUpdate ends what beginUpdate began.
func (p *Phone) endUpdate() { p.do(func() { p.updating = false }) }
