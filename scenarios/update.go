package scenarios

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/reclab/reclab/phones"
)

// editConfig is the administrator editing a phone's configuration file on
// the configuration server before the PBX's update order (spec §3.2.5): the
// lab's OUT/config/NAME.cfg, which the phone reads again on the order, gets
// params (each checked as a line of the file would be). No params: nothing.
func (r *Run) editConfig(p *phones.Phone, params map[string]string) error {
	if len(params) == 0 {
		return nil
	}
	path := filepath.Join(r.Out, "config", p.Name()+".cfg")
	text, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("editing %s's configuration: %w", p.Name(), err)
	}
	cfg, err := phones.ParseConfig(path, bytes.NewReader(text))
	if err != nil {
		return err
	}
	names := make([]string, 0, len(params))
	for k := range params {
		names = append(names, k)
	}
	slices.Sort(names)
	var said []string
	for _, k := range names {
		if err := cfg.Set(k, params[k]); err != nil {
			return err
		}
		said = append(said, k+": "+params[k])
	}
	if err := cfg.Validate(p.Model()); err != nil {
		return fmt.Errorf("editing %s: %w", path, err)
	}
	if err := os.WriteFile(path, cfg.Format(), 0o644); err != nil {
		return fmt.Errorf("editing %s's configuration: %w", p.Name(), err)
	}
	r.Say("config/%s.cfg edited: %s", p.Name(), strings.Join(said, ", "))
	return nil
}

// describeImpair is an impair or lift step as the trace shows it:
// "impair 7434 → recorder SIP: delay 1s, next 1 packet(s)".
func describeImpair(kind string, im *Impairment) string {
	if im.Between[0] == "" {
		return kind + " all"
	}
	arrow := "↔"
	if im.OneWay {
		arrow = "→"
	}
	s := fmt.Sprintf("%s %s %s %s %s", kind, im.Between[0], arrow, im.Between[1], im.Proto)
	var what []string
	switch {
	case im.DropAll:
		what = append(what, "drop all")
	case im.Drop > 0:
		what = append(what, fmt.Sprintf("drop %g", im.Drop))
	}
	if im.Delay > 0 {
		what = append(what, "delay "+im.Delay.String())
	}
	if im.Duplicate > 0 {
		what = append(what, fmt.Sprintf("duplicate %g", im.Duplicate))
	}
	if im.Count > 0 {
		what = append(what, fmt.Sprintf("next %d packet(s)", im.Count))
	}
	if kind == "impair" && len(what) > 0 {
		s += ": " + strings.Join(what, ", ")
	}
	return s
}
