package pbx

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/emiago/sipgo/sip"
	"github.com/reclab/reclab/sim"
)

// EventCheckSync is the SIP event package of the update order (spec
// §3.2.5): the event Mitel/Aastra and most SIP phones take as "re-read
// your configuration" (docs/wire.md "Firmware / configuration update").
const EventCheckSync = "check-sync"

// OrderUpdate is the PBX command of spec §3.2.5: it orders phones to
// unregister and read their configuration file. With no extension it orders
// every registered phone; otherwise each one named. Every extension is
// checked before anything is sent, so a typo orders nothing. Each phone
// gets an unsolicited NOTIFY with Event: check-sync and must answer 200; the
// phone then unregisters, sends BYE to the recorder, reads its
// configuration, restarts if the firmware or a major item changed, and
// registers again — all of which the PBX only sees as REGISTERs.
// OrderUpdate returns when every phone has answered (or failed to).
func (p *PBX) OrderUpdate(exts ...string) error {
	r := p.current()
	var targets []Registration
	err := errors.New("pbx: order update: the PBX is not running")
	if r != nil && !r.do(func() { targets, err = updateTargets(p.reg, p.cfg.Extensions, exts) }) {
		err = errors.New("pbx: order update: the PBX stopped")
	}
	if err != nil {
		return err
	}
	names := make([]string, len(targets))
	for i, t := range targets {
		names[i] = t.Ext
	}
	p.node.Note("ordering %s to unregister and read the configuration file (spec §3.2.5)", strings.Join(names, ", "))
	errs := make([]error, len(targets))
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Go(func() { errs[i] = p.orderUpdate(r, t) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// updateTargets picks the bindings an update order goes to: every one when
// exts is empty, else each named extension, which must be in the directory
// and registered. Problems with several extensions are all reported.
func updateTargets(reg *Registrar, directory, exts []string) ([]Registration, error) {
	if len(exts) == 0 {
		all := reg.Bindings()
		if len(all) == 0 {
			return nil, errors.New("pbx: order update: no phone is registered")
		}
		return all, nil
	}
	var out []Registration
	var errs []error
	seen := map[string]bool{}
	for _, ext := range exts {
		if seen[ext] {
			continue
		}
		seen[ext] = true
		if !reg.Known(ext) {
			errs = append(errs, fmt.Errorf("pbx: order update: no extension %q; extensions: %s", ext, strings.Join(directory, ", ")))
			continue
		}
		b, ok := reg.Lookup(ext)
		if !ok {
			errs = append(errs, fmt.Errorf("pbx: order update: %s is not registered", ext))
			continue
		}
		out = append(out, b)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// orderUpdate sends one phone the check-sync NOTIFY and reads its answer.
func (p *PBX) orderUpdate(r *run, to Registration) error {
	res, err := p.notify(r, to, EventCheckSync, "terminated", "", nil)
	if err != nil {
		p.node.Network().Errorf(p.node.Name(), to.Contact, "NOTIFY check-sync to %s: %v", to.Ext, err)
		return fmt.Errorf("pbx: order update: %s at %s: no answer: %w", to.Ext, to.Contact, err)
	}
	if res.StatusCode != 200 {
		p.node.Note("%s at %s refused the update order: %d %s", to.Ext, to.Contact, res.StatusCode, res.Reason)
		return fmt.Errorf("pbx: order update: %s at %s answered %d %s", to.Ext, to.Contact, res.StatusCode, res.Reason)
	}
	p.node.Note("%s at %s took the update order", to.Ext, to.Contact)
	return nil
}

// contactURI is where the PBX reaches a registered phone.
func contactURI(reg Registration) sip.Uri {
	return sip.Uri{User: reg.Ext, Host: reg.Contact.Addr().String(), Port: int(reg.Contact.Port())}
}

// notify sends an unsolicited NOTIFY (no SUBSCRIBE came before it) to a
// registered phone's contact and waits for the final answer.
func (p *PBX) notify(r *run, to Registration, event, subState, contentType string, body []byte) (*sip.Response, error) {
	req := sip.NewRequest(sip.NOTIFY, contactURI(to))
	host := r.sip.Addr.Addr().String()
	req.AppendHeader(&sip.FromHeader{Address: sip.Uri{User: "pbx", Host: host}, Params: tagParams()})
	req.AppendHeader(&sip.ToHeader{Address: sip.Uri{User: to.Ext, Host: host}})
	req.AppendHeader(r.sip.Contact("pbx"))
	req.AppendHeader(sip.NewHeader("Event", event))
	req.AppendHeader(sip.NewHeader("Subscription-State", subState))
	if contentType != "" {
		req.AppendHeader(sip.NewHeader("Content-Type", contentType))
		req.SetBody(body)
	}
	ctx, cancel := sim.WithTimeout(r.ctx, p.node.Clock(), requestTimeout)
	defer cancel()
	return r.sip.Client.Do(ctx, req)
}
