package scenarios

import (
	"fmt"
	"strings"

	"github.com/reclab/reclab/sim"
)

// Timeline is the story on one slide, for the top of flow.md: when each
// piece of narration was said and each action taken (waits and checks
// left out), in lab time. The diagram below it has every message.
func (r *Run) Timeline() string {
	var b strings.Builder
	fmt.Fprintf(&b, "spec %s: %s\n\n| time | what happens |\n| ---: | --- |\n", r.Scenario.Section, mdCell(r.Scenario.Description))
	for _, e := range r.eventsSoFar() {
		if e.Kind != sim.KindNote || e.From != "scenario" || isCheckOrWait(e.Summary) {
			continue
		}
		what := mdCell(e.Summary)
		if act, ok := strings.CutPrefix(e.Summary, "▸ "); ok {
			what = "`" + strings.ReplaceAll(act, "`", "'") + "`"
		}
		fmt.Fprintf(&b, "| %.1fs | %s |\n", e.At.Seconds(), what)
	}
	return b.String()
}
