package phones

import (
	"net/netip"

	"github.com/emiago/sipgo"

	"github.com/reclab/reclab/sim"
)

// Power: PowerOn binds the phone's sockets, PowerOff closes them without a
// word (spec §3.2.4).

// powerCycle is what one PowerOn brings up; PowerOff tears it down. Handlers
// hold the cycle they were started with and do nothing once it is off.
type powerCycle struct {
	pbx, rec *sim.SIPStack // rec == pbx on the 6700/6800/6900
	dlgCli   *sipgo.DialogClientCache
	dlgSrv   *sipgo.DialogServerCache
	recUA    *sipgo.DialogUA
	ras      *rasClient    // the 442x/743x/744x's RAS endpoint (ras.go); nil on a SIP-registering phone
	ready    chan struct{} // closed when the fields above are set
	off      chan struct{} // closed by PowerOff
}

func (pw *powerCycle) isOff() bool {
	select {
	case <-pw.off:
		return true
	default:
		return false
	}
}

// wait holds a handler until PowerOn has finished; false if the power went.
func (pw *powerCycle) wait() bool {
	select {
	case <-pw.ready:
		return !pw.isOff()
	case <-pw.off:
		return false
	}
}

// PowerOn binds the phone's SIP stack on its SIP port and, on the
// 442x/743x/744x, a second stack on 7300 for recording (spec §3.2,
// docs/wire.md). It does not register.
func (p *Phone) PowerOn() error {
	var err error
	p.do(func() { err = p.powerOnOnLoop() })
	return err
}

// PowerOff cuts the power: every socket of the phone closes and nothing is
// sent, no BYE to the recorder or the far end, no un-REGISTER (spec §3.2.4).
func (p *Phone) PowerOff() { p.do(p.powerOffOnLoop) }

// powerOnOnLoop is PowerOn. Binding a socket and starting its sipgo
// server wait on nothing of the network, so it runs on the loop, and the
// loop serialises it with PowerOff.
func (p *Phone) powerOnOnLoop() error {
	if p.pw != nil {
		return p.errorf("is already powered on")
	}
	pw := &powerCycle{ready: make(chan struct{}), off: make(chan struct{})}
	separate := p.model.SeparateRecordingStack()
	pbxStack, err := p.node.StartSIP(uint16(p.cfg.SIPPort(p.model)), p.ua, func(s *sipgo.Server) {
		p.serve(s, pw, stackRole{calls: true, recording: !separate})
	})
	if err != nil {
		return p.errorf("power on: %w", err)
	}
	recStack := pbxStack
	if separate {
		recStack, err = p.node.StartSIP(uint16(p.cfg.RecordingPort(p.model)), p.ua, func(s *sipgo.Server) {
			p.serve(s, pw, stackRole{recording: true})
		})
		if err != nil {
			close(pw.off)
			pbxStack.Close()
			return p.errorf("power on: recording stack: %w", err)
		}
	}
	pw.pbx, pw.rec = pbxStack, recStack
	if p.usesRAS() {
		if pw.ras, err = p.startRAS(pw); err != nil {
			close(pw.off)
			pbxStack.Close()
			if recStack != pbxStack {
				recStack.Close()
			}
			return p.errorf("power on: RAS: %w", err)
		}
	}
	pw.dlgCli = sipgo.NewDialogClientCache(pbxStack.Client, *pbxStack.Contact(p.ext))
	pw.dlgSrv = sipgo.NewDialogServerCache(pbxStack.Client, *pbxStack.Contact(p.ext))
	pw.recUA = &sipgo.DialogUA{Client: recStack.Client, ContactHDR: *recStack.Contact(p.ext)}
	p.pw = pw
	// RFC 3261 §10.2.4: one REGISTER Call-ID per boot cycle; a new one
	// tells the registrar the phone started again (spec §3.2.4, §3.2.5).
	p.reg.Step(RegEvent{Kind: RegPowerOn, CallID: p.newRegCallID()})
	close(pw.ready)
	p.node.Publish(PowerState{Phone: p.Name(), Ext: p.ext, On: true})
	if separate {
		p.node.Note("%s powered on: SIP %s, recording SIP %s", p.model.Name, pbxStack.Addr, recStack.Addr)
	} else {
		p.node.Note("%s powered on: SIP and recording SIP %s", p.model.Name, pbxStack.Addr)
	}
	if len(p.cfg.RecordingAllowed) == 0 {
		p.node.Note("no \"recording allowed ip\" configured: every recording INVITE will be refused (spec §3.2)")
	}
	return nil
}

// powerOffOnLoop is PowerOff. Closing a stack waits only for its reader
// goroutine; handlers and waiters that post to the loop find the cycle
// over when their turn comes.
func (p *Phone) powerOffOnLoop() {
	pw := p.pw
	if pw == nil {
		return
	}
	p.pw = nil
	close(pw.off)
	p.regApplyOnLoop(pw, p.reg.Step(RegEvent{Kind: RegPowerOff})) // nothing is sent (spec §3.2.4)
	steps := p.recStepOnLoop(RecEvent{Kind: RecPowerOff})
	p.recDialogs = map[string]*recDialog{}
	for _, s := range steps {
		if s.act.Kind == RecNote {
			p.node.Note("%s", s.act.Text)
		}
	}
	// Closing the stacks terminates every transaction without a word, so
	// a pending WaitAnswer ends without sending CANCEL.
	pw.pbx.Close()
	if pw.ras != nil {
		pw.ras.conn.Close()
	}
	if pw.rec != pw.pbx {
		pw.rec.Close()
	}
	p.callStepOnLoop(CallEvent{Kind: CallPowerOff}, netip.AddrPort{})
	p.node.Publish(PowerState{Phone: p.Name(), Ext: p.ext})
	p.node.Note("powered off")
}

// powered is the power cycle in progress, or an error when there is none.
func (p *Phone) powered() (*powerCycle, error) {
	var pw *powerCycle
	p.do(func() { pw = p.pw })
	if pw == nil {
		return nil, p.errorf("is powered off")
	}
	return pw, nil
}
