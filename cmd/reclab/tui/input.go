package tui

import tea "github.com/charmbracelet/bubbletea"

// lineInput is the one-line prompt of the status line (dial, filter,
// search). bubbles/textinput would do, but it pulls in a clipboard module
// go.sum does not hold; a prompt this small needs none of it.
type lineInput struct {
	prompt string
	value  []rune
}

const maxInput = 64

// key edits the line: runes insert, Backspace deletes, Ctrl-U clears.
func (in *lineInput) key(k tea.KeyMsg) {
	switch k.Type {
	case tea.KeyRunes, tea.KeySpace:
		if len(in.value)+len(k.Runes) <= maxInput {
			in.value = append(in.value, k.Runes...)
		}
	case tea.KeyBackspace:
		if n := len(in.value); n > 0 {
			in.value = in.value[:n-1]
		}
	case tea.KeyCtrlU:
		in.value = nil
	}
}

func (in lineInput) View() string { return in.prompt + string(in.value) + "█" }
