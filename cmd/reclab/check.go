package main

import (
	"flag"
	"fmt"
	"io"
)

// cmdCheck validates stories without running them (issue 19 item 5), for
// editors and CI: each file or library name is read and checked as `run`
// does before its lab starts, and a valid one is printed step by step.
func cmdCheck(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	quiet := fs.Bool("q", false, "print only the problems, not what each story will do")
	fs.Usage = func() {
		fmt.Fprintln(stderr, `Usage: reclab check [-q] NAME|FILE...

Checks scenario files (or library scenarios) without running them: every
problem with file:line:column, what was wrong and how to write it, as
'reclab run' says before any lab starts. For each valid story, prints
what it will do, one line per step. Nothing is built, bound or written.

Exit status: 0 every story is valid, 2 a story is broken or none named.

Flags:`)
		fs.PrintDefaults()
	}
	names, err := parseAmongNames(fs, args) // flags after the names too
	if err != nil {
		return flagExit(err)
	}
	if len(names) == 0 {
		fmt.Fprintln(stderr, "reclab check: name a scenario file or a library scenario; 'reclab list' shows the library")
		return exitUsage
	}
	list, ok := loadStories(names, stderr)
	for i, s := range list {
		if *quiet {
			break
		}
		if i > 0 {
			fmt.Fprintln(stdout)
		}
		spec := ""
		if s.Section != "" {
			spec = " (spec " + s.Section + ")"
		}
		fmt.Fprintf(stdout, "%s: %s%s, %d steps: %s\n", s.Source, s.Name, spec, len(s.Steps), s.Description)
		for _, l := range s.Plan() {
			fmt.Fprintln(stdout, l)
		}
	}
	code := exitOK
	if !ok {
		code = exitUsage
	}
	return code
}
