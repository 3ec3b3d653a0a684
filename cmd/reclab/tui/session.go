package tui

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// SessionDir makes the folder of one TUI session under base:
// base/<UTC timestamp>/, or base/<timestamp>-2, -3 … when a session of the
// same second has one. The folder is created exclusively (os.Mkdir), so a
// start never writes into, nor truncates, another session's files — not
// even a start that then fails (issue 12: each start truncated the
// previous lab.pcap, an 8 MB class capture became 24 bytes).
func SessionDir(base string, now time.Time) (string, error) {
	if err := os.MkdirAll(base, 0o755); err != nil {
		return "", fmt.Errorf("session folder: %w", err)
	}
	stamp := now.UTC().Format("20060102-150405")
	dir := filepath.Join(base, stamp)
	for i := 2; ; i++ {
		err := os.Mkdir(dir, 0o755)
		if err == nil {
			return dir, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return "", fmt.Errorf("session folder: %w", err)
		}
		if i > 1000 {
			return "", fmt.Errorf("session folder: %s: 1000 sessions of the same second", filepath.Join(base, stamp))
		}
		dir = filepath.Join(base, fmt.Sprintf("%s-%d", stamp, i))
	}
}
