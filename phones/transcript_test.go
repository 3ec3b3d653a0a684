package phones

import "github.com/reclab/reclab/internal/labtest"

// The cores' transcripts (testdata/<core>/*.txt) are played by the shared
// player, labtest.PlayTranscripts. `go test ./phones -run Transcripts
// -rewrite` rewrites the expected output from the cores.

type transcriptCmd = labtest.Cmd

var playTranscripts = labtest.PlayTranscripts
