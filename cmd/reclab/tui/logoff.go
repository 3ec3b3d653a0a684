package tui

import (
	"fmt"
	"strings"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/reclab/reclab/phones/model"
)

// Forced log-off (spec §3.2.3), key L: the selected phone is A; the prompt
// asks for phone B, which registers A's extension from its own address.

func (m *Model) openLogOffPrompt() {
	a, ok := m.selectedPhone()
	if !ok {
		m.setStatus(true, "no phone selected")
		return
	}
	if !m.available(ActForcedLogOff) {
		return
	}
	m.logOffFrom = a
	m.openPrompt(promptLogOff, fmt.Sprintf("which phone takes %s's extension %s (name or extension): ", a.Name, a.Ext), "")
}

// forcedLogOff reads the prompt: phone B by name or extension, not A.
func (m *Model) forcedLogOff(value string) tea.Cmd {
	a := m.logOffFrom
	if value == "" {
		m.setStatus(true, "forced log-off: no phone given")
		return nil
	}
	var names []string
	for _, p := range m.snap.Phones {
		names = append(names, p.Name)
		if !strings.EqualFold(p.Name, value) && p.Ext != value {
			continue
		}
		if p.Name == a.Name {
			m.setStatus(true, "forced log-off: %s already has %s; name another phone", p.Name, a.Ext)
			return nil
		}
		if md, err := model.Lookup(p.Model); err == nil && md.H323() {
			// RAS carries no credentials here (no H.235), so the gatekeeper
			// keeps a live extension to its endpoint (RRJ duplicateAlias).
			m.setStatus(true, "forced log-off: %s (%s) registers over H.323 RAS, and the gatekeeper refuses an extension that is live at another phone (duplicateAlias); take it with a SIP phone (6xxx), which proves the extension's password", p.Name, p.Model)
			return nil
		}
		m.setStatus(false, "%s registers %s: %s will be logged off…", p.Name, a.Ext, a.Name)
		return m.run(Action{Kind: ActForcedLogOff, Phone: p.Name, Arg: a.Ext})
	}
	m.setStatus(true, "forced log-off: no phone %q; phones: %s", value, strings.Join(names, ", "))
	return nil
}
