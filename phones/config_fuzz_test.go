package phones

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/reclab/reclab/phones/model"
)

// FuzzParseConfig checks that ParseConfig never panics, and that whatever it
// accepts survives Format: the text parses back to the same parameters and
// formats to the same bytes again. Set and Validate must not panic either.
func FuzzParseConfig(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "config", "*.cfg"))
	for _, file := range files {
		if data, err := os.ReadFile(file); err == nil {
			f.Add(data)
		}
	}
	for _, s := range []string{
		"", ":", "#", "!", "^:", "a:b", "a: \"\"\"\"", "a: \" \"", "softkey1 type:\n",
		"softkey999 body: <x/>\nsoftkey1000 body: y\n", "mac address: 00-08-5D-00-00-01",
		"recording allowed ip: ,, 1.2.3.4\t5.6.7.8,", "sip local port: 0065535\r\n",
		"\uFEFFsip line1 user name: \"1001\"", "a: b\rc\r\n", "sip line1 proxy ip: 0.0.0.0",
	} {
		f.Add([]byte(s))
	}
	models := model.All()
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConfig("fuzz", bytes.NewReader(data))
		if err != nil {
			return
		}
		text := c.Format()
		again, err := ParseConfig("fuzz", bytes.NewReader(text))
		if err != nil {
			t.Fatalf("Format output does not parse: %v\ninput %q\noutput %q", err, data, text)
		}
		if got, want := cfgComparable(again), cfgComparable(c); !reflect.DeepEqual(got, want) {
			t.Fatalf("round trip changed the config\n got %#v\nwant %#v\noutput %q", got, want, text)
		}
		if text2 := again.Format(); !bytes.Equal(text, text2) {
			t.Fatalf("Format not stable\n%q\n%q", text, text2)
		}
		_ = c.Validate(models[len(data)%len(models)])
		_ = c.Notices()
		_, _ = c.RecordKey()
		for _, p := range c.Unknown {
			if err := again.Set(p.Name, p.Value); err != nil {
				t.Fatalf("Set(%q, %q) of a parsed parameter: %v", p.Name, p.Value, err)
			}
		}
	})
}
