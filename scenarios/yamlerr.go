package scenarios

import (
	_ "embed"
	"fmt"
	"strings"
)

// The format's own documentation: structure errors quote their corrected
// example from it, so the example a person is shown is the one README.md
// teaches (a test keeps the quoted pieces in it).
//
//go:embed README.md
var formatDoc string

// structureError turns the YAML parser's message about line:col of src into
// what the author did and what to do (issue 19: "value is not allowed in
// this context" and "found character '\t' that cannot start any token"
// gave no hint of indentation or tabs): the mistake in words, the offending
// line quoted with a caret, and a corrected example from README.md. When
// no rule below explains it, the parser's own words stay, with the line.
func structureError(file string, src []byte, line, col int, parserMsg string) string {
	lines := strings.Split(strings.ReplaceAll(string(src), "\r\n", "\n"), "\n")
	d := diagnose(lines, line, col, parserMsg)
	var b strings.Builder
	fmt.Fprintf(&b, "%s:%d:%d: %s", file, d.line, d.col, d.what)
	if d.line >= 1 && d.line <= len(lines) {
		text := lines[d.line-1]
		fmt.Fprintf(&b, "\n  %4d | %s", d.line, visibleTabs(text))
		fmt.Fprintf(&b, "\n       | %s^", strings.Repeat(" ", caretOffset(text, d.col)))
	}
	if d.fix != "" {
		fmt.Fprintf(&b, "\n  write it as %s", d.fix)
	}
	if ex := docExample(d.example); ex != "" {
		fmt.Fprintf(&b, "\n  as in scenarios/README.md:\n%s", ex)
	}
	return b.String()
}

// diagnosis is what went wrong where, and what the author should write.
type diagnosis struct {
	line, col int
	what      string // the mistake, in words
	fix       string // the offending line corrected, when there is one
	example   string // the README example to quote: docSteps or docPhone
}

// The README examples a structure error may quote: the first line of each
// in the format's yaml block, and how many lines follow it.
const (
	docSteps = "steps:"
	docPhone = "- name: 6867i"
)

// diagnose applies the rules, in order, to the line the parser names and
// those around it. Lines and columns are 1-based.
func diagnose(lines []string, line, col int, parserMsg string) diagnosis {
	at := func(n int) string {
		if n < 1 || n > len(lines) {
			return ""
		}
		return lines[n-1]
	}
	// A tab where spaces go: the parser names the tab, or the line has
	// one in its indentation (YAML 1.2 §6.1: tabs never indent).
	for n := max(1, line-1); n <= min(len(lines), line+1); n++ {
		if i := strings.IndexByte(leading(at(n)), '\t'); i >= 0 || (n == line && strings.Contains(parserMsg, "'\t'")) {
			if i < 0 {
				i = col - 1
			}
			// The fix lines the item up with the list's other items, or
			// gives each tab two spaces.
			fixed := strings.ReplaceAll(leading(at(n)), "\t", "  ") + strings.TrimLeft(at(n), " \t")
			if item, k := previousItem(lines, n); k > 0 && strings.HasPrefix(strings.TrimSpace(at(n)), "- ") {
				fixed = strings.Repeat(" ", indent(item)) + strings.TrimSpace(at(n))
			}
			return diagnosis{line: n, col: i + 1, example: docSteps,
				what: "a tab in the indentation: YAML indents with spaces only; replace the tab with spaces",
				fix:  "`" + fixed + "`"}
		}
	}
	cur := at(line)
	trim := strings.TrimSpace(cur)
	ind := indent(cur)
	// "-hang-up: x": a dash glued to its item.
	if strings.HasPrefix(trim, "-") && len(trim) > 1 && trim[1] != ' ' && trim[1] != '-' {
		return diagnosis{line: line, col: ind + 1, example: docSteps,
			what: "a list item's `-` needs a space after it",
			fix:  "`" + strings.Repeat(" ", ind) + "- " + trim[1:] + "`"}
	}
	prevItem, prevN := previousItem(lines, line)
	if strings.HasPrefix(trim, "- ") && prevN > 0 && indent(prevItem) != ind {
		return diagnosis{line: line, col: ind + 1, example: docSteps,
			what: fmt.Sprintf("this list item is indented %d spaces, the one above it (line %d) %d: the `-` of every item of a list starts in the same column", ind, prevN, indent(prevItem)),
			fix:  "`" + strings.Repeat(" ", indent(prevItem)) + trim + "`"}
	}
	// "  answer: x" under "  - dial: …": a step without its dash, read
	// as a key of the mapping around the list.
	if !strings.HasPrefix(trim, "-") && isKeyLine(trim) && prevN > 0 && indent(prevItem) == ind {
		return diagnosis{line: line, col: ind + 1, example: docSteps,
			what: fmt.Sprintf("this line starts in the column of the list's `-` (line %d) without one: each step starts with `- `", prevN),
			fix:  "`" + strings.Repeat(" ", ind) + "- " + trim + "`"}
	}
	// A key indented deeper than the key above it, which has a value
	// already (the parser often names the line above).
	for n := line; n <= min(len(lines), line+1); n++ {
		above, aboveN := previousContent(lines, n)
		t := strings.TrimSpace(at(n))
		if aboveN == 0 || !isKeyLine(t) || strings.HasPrefix(t, "-") {
			continue
		}
		want := indent(above)
		if strings.HasPrefix(strings.TrimSpace(above), "- ") {
			want += 2 // the first key of an item starts after "- "
		}
		if indent(at(n)) > want && !opensBlock(above) {
			return diagnosis{line: n, col: indent(at(n)) + 1, example: docPhone,
				what: fmt.Sprintf("this key is indented %d spaces, the key above it (line %d) %d: keys of one mapping start in the same column", indent(at(n)), aboveN, want),
				fix:  "`" + strings.Repeat(" ", want) + t + "`"}
		}
	}
	// A bracket left open: the parser stops on a later line.
	for n := line; n >= max(1, line-3); n-- {
		if open := unclosed(at(n)); open != 0 {
			close := map[byte]string{'{': "}", '[': "]"}[open]
			return diagnosis{line: n, col: strings.LastIndexByte(at(n), open) + 1, example: docSteps,
				what: fmt.Sprintf("a `%c` is not closed on its line: close it with `%s` (the YAML parser: %s)", open, close, parserMsg)}
		}
	}
	return diagnosis{line: line, col: col, what: parserMsg}
}

// previousItem is the nearest list item ("- …") above line n that is not
// deeper than the lines between, and its line number; 0 when none.
func previousItem(lines []string, n int) (string, int) {
	for k := min(n-1, len(lines)); k >= 1; k-- {
		t := strings.TrimSpace(lines[k-1])
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		if strings.HasPrefix(t, "- ") || t == "-" {
			return lines[k-1], k
		}
		if indent(lines[k-1]) == 0 {
			return "", 0 // a top-level key: no list above in this block
		}
	}
	return "", 0
}

// previousContent is the nearest line above n that is neither blank nor a
// comment, and its number; 0 when none.
func previousContent(lines []string, n int) (string, int) {
	for k := min(n-1, len(lines)); k >= 1; k-- {
		if t := strings.TrimSpace(lines[k-1]); t != "" && !strings.HasPrefix(t, "#") {
			return lines[k-1], k
		}
	}
	return "", 0
}

// isKeyLine: "key: value" or "key:", outside quotes and brackets.
func isKeyLine(t string) bool {
	t = strings.TrimPrefix(t, "- ")
	if t == "" || strings.ContainsAny(t[:1], "{[\"'#") {
		return false
	}
	i := strings.Index(t, ":")
	return i > 0 && (i == len(t)-1 || t[i+1] == ' ')
}

// opensBlock: a key with no value on its line ("wait:"), whose value is
// the block below it.
func opensBlock(l string) bool {
	t := strings.TrimSpace(l)
	if i := strings.Index(t, " #"); i >= 0 {
		t = strings.TrimSpace(t[:i])
	}
	return strings.HasSuffix(t, ":") || t == "-"
}

// unclosed is the last bracket a line opens and does not close, outside
// quotes and comments; 0 when it closes all.
func unclosed(l string) byte {
	var stack []byte
	var quote byte
	for i := 0; i < len(l); i++ {
		c := l[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '#' && (i == 0 || l[i-1] == ' '):
			i = len(l)
		case c == '{' || c == '[':
			stack = append(stack, c)
		case (c == '}' || c == ']') && len(stack) > 0:
			stack = stack[:len(stack)-1]
		}
	}
	if len(stack) == 0 {
		return 0
	}
	return stack[len(stack)-1]
}

func leading(l string) string { return l[:len(l)-len(strings.TrimLeft(l, " \t"))] }

func indent(l string) int { return len(l) - len(strings.TrimLeft(l, " ")) }

// visibleTabs shows a tab as → so the quoted line says where it is.
func visibleTabs(l string) string { return strings.ReplaceAll(l, "\t", "→") }

// caretOffset is how many columns the caret under col is indented, tabs
// shown one column wide (visibleTabs).
func caretOffset(l string, col int) int {
	return max(0, min(col-1, len([]rune(l))))
}

// docExample quotes README.md's first yaml block, the format's, from the
// line starting with first: the steps list's opening, or one phone written key by key.
func docExample(first string) string {
	if first == "" {
		return ""
	}
	n := map[string]int{docSteps: 5, docPhone: 3}[first]
	// The format's own block: the first yaml block, under "## The file".
	_, block, _ := strings.Cut(formatDoc, "```yaml\n")
	block, _, _ = strings.Cut(block, "```")
	lines := strings.Split(block, "\n")
	for i, l := range lines {
		if strings.TrimSpace(l) != first && !strings.HasPrefix(strings.TrimSpace(l), first+" ") {
			continue
		}
		cut := indent(l)
		var out []string
		for _, e := range lines[i:min(len(lines), i+n)] {
			if j := strings.Index(e, "  #"); j >= 0 {
				e = strings.TrimRight(e[:j], " ")
			}
			out = append(out, "    "+e[min(cut, indent(e)):])
		}
		return strings.Join(out, "\n")
	}
	return ""
}
