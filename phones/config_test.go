package phones

import (
	"bytes"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/reclab/reclab/phones/model"
)

// update rewrites golden files under testdata/ instead of comparing with them.
// It is the package's one -update flag; other tests in phones share it.
var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// cfgVector is what a testdata/config/*.cfg file expects, from its
// "# test: <directive> <argument>" comment lines.
type cfgVector struct {
	wantError      string   // want-error: ParseConfig fails with this substring
	model          string   // model: Validate against this model
	validateErrors []string // validate-error: each substring in Validate's error; none = valid
}

func readCfgVector(t *testing.T, data []byte) cfgVector {
	t.Helper()
	var v cfgVector
	for _, line := range strings.Split(string(data), "\n") {
		rest, ok := strings.CutPrefix(strings.TrimSpace(strings.TrimPrefix(line, "\uFEFF")), "# test: ")
		if !ok {
			continue
		}
		directive, arg, _ := strings.Cut(rest, " ")
		switch directive {
		case "want-error":
			v.wantError = arg
		case "model":
			v.model = arg
		case "validate-error":
			v.validateErrors = append(v.validateErrors, arg)
		default:
			t.Fatalf("unknown test directive %q", directive)
		}
	}
	if v.wantError == "" && v.model == "" {
		t.Fatal("vector needs a '# test: want-error' or '# test: model' line")
	}
	return v
}

// cfgComparable strips what Format cannot carry over: warnings, which are
// about the original text, and the line numbers of unknown parameters.
func cfgComparable(c *Config) Config {
	out := *c
	out.Warnings = nil
	out.Unknown = nil
	for _, p := range c.Unknown {
		p.Line = 0
		out.Unknown = append(out.Unknown, p)
	}
	return out
}

// cfgRoundTrip checks that Format gives text that parses back to the same
// parameters and that formatting again gives the same bytes.
func cfgRoundTrip(t *testing.T, c *Config) {
	t.Helper()
	text := c.Format()
	again, err := ParseConfig(c.Source, bytes.NewReader(text))
	if err != nil {
		t.Fatalf("Format output does not parse: %v\n%s", err, text)
	}
	if got, want := cfgComparable(again), cfgComparable(c); !reflect.DeepEqual(got, want) {
		t.Fatalf("Format round trip changed the config\n got %#v\nwant %#v\ntext:\n%s", got, want, text)
	}
	if len(again.Warnings) != 0 {
		t.Errorf("Format output gives warnings %q\n%s", again.Warnings, text)
	}
	if text2 := again.Format(); !bytes.Equal(text, text2) {
		t.Fatalf("Format is not stable:\n%s\n---\n%s", text, text2)
	}
}

// cfgGolden is the golden text for a vector that parses: a summary of what
// the phone makes of it, as comments, then Format's output. It is itself a
// configuration file.
func cfgGolden(c *Config, m Model) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# model %s, %s: sip port %d, recording port %d, separate recording stack %t\n",
		m, m.Family, c.SIPPort(m), c.RecordingPort(m), m.SeparateRecordingStack())
	fmt.Fprintf(&b, "# registrar %v, proxy %v\n", c.RegistrarAddrPort(), c.ProxyAddrPort())
	if k, ok := c.RecordKey(); ok {
		fmt.Fprintf(&b, "# record key: softkey%d %s %s\n", k.Index, k.HTTPMethod(), k.Value)
	} else {
		b.WriteString("# record key: none\n")
	}
	if err := c.Validate(m); err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			fmt.Fprintf(&b, "# invalid: %s\n", line)
		}
	}
	for _, n := range c.Notices() {
		fmt.Fprintf(&b, "# notice: %s\n", n)
	}
	b.Write(c.Format())
	return b.Bytes()
}

func TestConfigVectors(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "config", "*.cfg"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no vectors: %v", err)
	}
	for _, file := range files {
		name := filepath.Base(file)
		t.Run(strings.TrimSuffix(name, ".cfg"), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			v := readCfgVector(t, data)
			c, err := ParseConfig(name, bytes.NewReader(data))
			if v.wantError != "" {
				if err == nil {
					t.Fatalf("ParseConfig succeeded, want error containing %q", v.wantError)
				}
				if !strings.Contains(err.Error(), v.wantError) {
					t.Fatalf("ParseConfig error\n got %q\nwant substring %q", err, v.wantError)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseConfig: %v", err)
			}
			m, err := LookupModel(v.model)
			if err != nil {
				t.Fatal(err)
			}
			verr := c.Validate(m)
			if len(v.validateErrors) == 0 && verr != nil {
				t.Errorf("Validate(%s): %v", m, verr)
			}
			for _, want := range v.validateErrors {
				if verr == nil || !strings.Contains(verr.Error(), want) {
					t.Errorf("Validate(%s) error\n got %v\nwant substring %q", m, verr, want)
				}
			}
			cfgRoundTrip(t, c)

			golden := strings.TrimSuffix(file, ".cfg") + ".golden"
			got := cfgGolden(c, m)
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("golden %s differs (go test -update to accept)\n got:\n%s\nwant:\n%s", golden, got, want)
			}
			// The golden text is a configuration file too, with the same parameters.
			fromGolden, err := ParseConfig(name, bytes.NewReader(want))
			if err != nil {
				t.Fatalf("golden does not parse: %v", err)
			}
			if !reflect.DeepEqual(cfgComparable(fromGolden), cfgComparable(c)) {
				t.Errorf("golden parses to a different config")
			}
		})
	}
}

func TestParseConfigTyped(t *testing.T) {
	c, err := ParseConfig("1001.cfg", strings.NewReader(`
sip line1 user name: 1001
sip line1 display name: Alice
sip line1 registrar ip: 127.20.0.1
sip line1 registrar port: 5061
sip line1 proxy ip: 127.20.0.5
sip local port: 5070
sip registration period: 3600
recording allowed ip: 127.20.0.2,127.20.0.3
recording allowed ip: 127.20.0.2
mac address: 00-08-5d-aa-bb-cc
softkey2 label: Rec
softkey2 type: xml
softkey2 value: http://127.20.0.2:8080/r#frag
softkey1 type: line
`))
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		Source:             "1001.cfg",
		User:               "1001",
		DisplayName:        "Alice",
		Registrar:          netip.MustParseAddr("127.20.0.1"),
		RegistrarPort:      5061,
		Proxy:              netip.MustParseAddr("127.20.0.5"),
		LocalPort:          5070,
		RegistrationPeriod: 3600,
		RecordingAllowed: []netip.Addr{
			netip.MustParseAddr("127.20.0.2"), netip.MustParseAddr("127.20.0.3"), netip.MustParseAddr("127.20.0.2"),
		},
		MAC: "00085DAABBCC",
		Softkeys: []Softkey{
			{Index: 1, Type: "line"},
			{Index: 2, Type: "xml", Label: "Rec", Value: "http://127.20.0.2:8080/r#frag"},
		},
	}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("got  %#v\nwant %#v", c, want)
	}
	if got := c.RegistrarAddrPort().String(); got != "127.20.0.1:5061" {
		t.Errorf("RegistrarAddrPort = %s", got)
	}
	if got := c.ProxyAddrPort().String(); got != "127.20.0.5:5060" {
		t.Errorf("ProxyAddrPort = %s", got)
	}
}

func TestParseConfigEmptyValueClears(t *testing.T) {
	c, err := ParseConfig("x", strings.NewReader("sip local port: 5070\nsip local port:\nmac address: 00085D000001\nmac address: \"\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.LocalPort != 0 || c.MAC != "" {
		t.Errorf("LocalPort %d, MAC %q; want both cleared", c.LocalPort, c.MAC)
	}
	if len(c.Warnings) != 2 {
		t.Errorf("warnings %q, want two repeats", c.Warnings)
	}
}

func TestParseConfigTooLarge(t *testing.T) {
	big := strings.Repeat("# padding\n", maxConfigSize/10+1)
	_, err := ParseConfig("big.cfg", strings.NewReader(big))
	if err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("err = %v", err)
	}
}

func TestConfigNotices(t *testing.T) {
	c, err := ParseConfig("n.cfg", strings.NewReader("tftp server: 1.2.3.4\nsip local port: 5060\n^sip local port: 5062\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`n.cfg:1: unknown parameter "tftp server" kept, not applied (value "1.2.3.4")`,
		`n.cfg:3: prefix "^" ignored: the lab does not lock or reset parameters`,
		`n.cfg:3: parameter "sip local port" repeats line 2; line 3 wins`,
	}
	if got := c.Notices(); !reflect.DeepEqual(got, want) {
		t.Errorf("Notices:\n got %q\nwant %q", got, want)
	}
	if c.LocalPort != 5062 {
		t.Errorf("LocalPort %d, want the last line's 5062", c.LocalPort)
	}
}

func TestConfigSet(t *testing.T) {
	c, err := ParseConfig("pbx", strings.NewReader("recording allowed ip: 127.20.0.2\ntftp server: a\ntftp server: b\n"))
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name, value string
		wantErr     string
	}{
		{"SIP  Local Port", "5072", ""},
		{"recording allowed ip", "127.20.0.7, 127.20.0.8", ""},
		{"tftp server", "c", ""},
		{"ntp server", "d", ""},
		{"softkey4 label", `"  Rec  "`, ""},
		{"sip local port", "99999", `phones: pbx: parameter "sip local port": bad value "99999": want a port 1-65535`},
		{"recording allowed ip", "bogus", `phones: pbx: parameter "recording allowed ip": bad value "bogus"`},
		{"sip line1 password", "a\nsip local port: 1", `a value is one line`},
		{"sip local port:", "1", `bad parameter name`},
	}
	for _, s := range steps {
		err := c.Set(s.name, s.value)
		if s.wantErr == "" && err != nil {
			t.Errorf("Set(%q, %q): %v", s.name, s.value, err)
		}
		if s.wantErr != "" && (err == nil || !strings.Contains(err.Error(), s.wantErr)) {
			t.Errorf("Set(%q, %q) = %v, want error containing %q", s.name, s.value, err, s.wantErr)
		}
	}
	if c.LocalPort != 5072 {
		t.Errorf("LocalPort %d after failed Set, want 5072", c.LocalPort)
	}
	wantAllowed := []netip.Addr{netip.MustParseAddr("127.20.0.7"), netip.MustParseAddr("127.20.0.8")}
	if !reflect.DeepEqual(c.RecordingAllowed, wantAllowed) {
		t.Errorf("RecordingAllowed %v, want Set to replace the list with %v", c.RecordingAllowed, wantAllowed)
	}
	wantUnknown := []Param{{2, "tftp server", "a"}, {0, "tftp server", "c"}, {0, "ntp server", "d"}}
	if !reflect.DeepEqual(c.Unknown, wantUnknown) {
		t.Errorf("Unknown %v, want %v", c.Unknown, wantUnknown)
	}
	if want := []Softkey{{Index: 4, Label: "  Rec  "}}; !reflect.DeepEqual(c.Softkeys, want) {
		t.Errorf("Softkeys %v, want %v", c.Softkeys, want)
	}
	if len(c.Warnings) != 0 {
		t.Errorf("Set added warnings %q", c.Warnings)
	}
	cfgRoundTrip(t, c)
}

func TestConfigFormatRoundTrip(t *testing.T) {
	// Values that need quoting, an all-empty softkey, 0.0.0.0, odd characters.
	c := &Config{
		Source:             "rt",
		User:               "1001",
		DisplayName:        ` "quoted" `,
		AuthName:           `"`,
		Password:           `p#ss: "x"`,
		Proxy:              netip.IPv4Unspecified(),
		Registrar:          netip.MustParseAddr("127.20.0.1"),
		LocalPort:          65535,
		RecordingPortParam: 65535,
		RegistrationPeriod: 2147483647,
		RecordingAllowed:   []netip.Addr{netip.MustParseAddr("127.20.0.2")},
		MAC:                "00085D000001",
		Firmware:           "5.1.0.2041 SIP",
		Softkeys: []Softkey{
			{Index: 1},
			{Index: 7, Type: "xml", Label: "Rec", Value: "http://127.20.0.2:8080/r?a=$$LOCALIP$$", States: "idle connected",
				Body: `<a x="1"/>`, ContentType: "text/xml"},
		},
		Unknown: []Param{{Name: "tftp server", Value: ""}, {Name: "tftp server", Value: "  x  "}},
	}
	cfgRoundTrip(t, c)
	if got := c.ProxyAddrPort().String(); got != "127.20.0.1:5060" {
		t.Errorf("ProxyAddrPort with proxy 0.0.0.0 = %s, want the registrar", got)
	}
}

func TestConfigFormatNoInjection(t *testing.T) {
	c := &Config{User: "1001", Password: "x\nsip local port: 7300"}
	again, err := ParseConfig("", bytes.NewReader(c.Format()))
	if err != nil {
		t.Fatal(err)
	}
	if again.LocalPort != 0 || again.Password != "x sip local port: 7300" {
		t.Errorf("a newline in a field became a line: %+v", again)
	}
}

func TestConfigPortRules(t *testing.T) {
	for _, m := range model.All() {
		t.Run(m.Name, func(t *testing.T) {
			base := func() *Config {
				return &Config{Source: "t", User: "1001", Registrar: netip.MustParseAddr("127.20.0.1")}
			}
			fixedPort, fixed := m.FixedRecordingPort()

			c := base()
			if err := c.Validate(m); err != nil {
				t.Fatalf("minimal config: %v", err)
			}
			if got := c.SIPPort(m); got != DefaultSIPPort {
				t.Errorf("SIPPort default = %d", got)
			}
			wantRec := DefaultSIPPort
			if fixed {
				wantRec = FixedPort
			}
			if got := c.RecordingPort(m); got != wantRec {
				t.Errorf("RecordingPort default = %d, want %d", got, wantRec)
			}

			// Moving the SIP port moves the recording port only without a fixed port.
			c.LocalPort = 5070
			if err := c.Validate(m); err != nil {
				t.Errorf("sip local port 5070: %v", err)
			}
			if got := c.SIPPort(m); got != 5070 {
				t.Errorf("SIPPort = %d, want 5070", got)
			}
			wantRec = 5070
			if fixed {
				wantRec = FixedPort
			}
			if got := c.RecordingPort(m); got != wantRec {
				t.Errorf("RecordingPort with sip local port 5070 = %d, want %d", got, wantRec)
			}

			// "sip recording port" may restate the rule's port, nothing else.
			c.RecordingPortParam = c.RecordingPort(m)
			if err := c.Validate(m); err != nil {
				t.Errorf("sip recording port %d: %v", c.RecordingPortParam, err)
			}
			c.RecordingPortParam = 5080
			err := c.Validate(m)
			if err == nil {
				t.Fatal("sip recording port 5080 accepted")
			}
			for _, want := range []string{m.Name, `"sip recording port" 5080`} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not name %q", err, want)
				}
			}

			// On fixed-port models the PBX-side stack cannot take 7300.
			c = base()
			c.LocalPort = FixedPort
			err = c.Validate(m)
			if fixed != (err != nil) {
				t.Errorf("sip local port 7300 on %s (fixed %t): Validate = %v", m, fixed, err)
			}
			if fixed && fixedPort != FixedPort {
				t.Errorf("fixed port %d", fixedPort)
			}
		})
	}
}

func TestConfigValidateModel(t *testing.T) {
	c := &Config{User: "1", Registrar: netip.MustParseAddr("127.20.0.1")}
	for _, m := range []Model{{}, {Name: "7434", Family: model.Family6900}, {Name: "1234", Family: model.Family743x}} {
		if err := c.Validate(m); err == nil {
			t.Errorf("Validate(%#v) accepted a model not in the table", m)
		}
	}
}

func TestConfigValidateFieldsSetInCode(t *testing.T) {
	m, _ := LookupModel("6869i")
	c := &Config{
		Source:             "code",
		User:               "10a",
		Registrar:          netip.MustParseAddr("::1"),
		Proxy:              netip.MustParseAddr("::2"),
		LocalPort:          70000,
		RegistrationPeriod: -1,
		RecordingAllowed:   []netip.Addr{netip.MustParseAddr("::3")},
		Softkeys:           []Softkey{{Index: 0, Type: "xml", Value: "ftp://x/"}},
	}
	err := c.Validate(m)
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{
		`"sip line1 user name": bad value "10a"`,
		`"sip line1 registrar ip": bad value "::1"`,
		`"sip line1 proxy ip": bad value "::2"`,
		`"sip local port": bad value 70000`,
		`"sip registration period": bad value -1`,
		`"recording allowed ip": bad value "::3"`,
		`softkey index 0`,
		`"softkey0 value": bad value "ftp://x/"`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not contain %q:\n%v", want, err)
		}
	}
}

func TestRecordKey(t *testing.T) {
	tests := []struct {
		name string
		keys []Softkey
		want int // Index, 0 = none
	}{
		{"none", nil, 0},
		{"no xml", []Softkey{{Index: 1, Type: "speeddial", Label: "Record"}}, 0},
		{"first xml", []Softkey{{Index: 1, Type: "line"}, {Index: 2, Type: "xml", Label: "Dir"}, {Index: 3, Type: "xml", Label: "News"}}, 2},
		{"label record", []Softkey{{Index: 1, Type: "xml", Label: "Dir"}, {Index: 4, Type: "XML", Label: "Start Recording"}}, 4},
		{"label rec", []Softkey{{Index: 1, Type: "xml", Label: "Recent"}, {Index: 2, Type: "xml", Label: "Rec."}}, 2},
		{"label save", []Softkey{{Index: 1, Type: "xml", Label: "Dir"}, {Index: 3, Type: "xml", Label: "Save call"}}, 3},
		{"url save", []Softkey{{Index: 1, Type: "xml", Label: "Dir"}, {Index: 3, Type: "xml", Value: "https://r/save"}}, 3},
		{"url record", []Softkey{{Index: 1, Type: "xml", Label: "Dir"}, {Index: 5, Type: "xml", Label: "Save", Value: "http://r/Record?x"}}, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &Config{Softkeys: tt.keys}
			k, ok := c.RecordKey()
			if ok != (tt.want != 0) || k.Index != tt.want {
				t.Errorf("RecordKey = %v, %t; want index %d", k, ok, tt.want)
			}
		})
	}
	if (Softkey{Body: "<x/>"}).HTTPMethod() != "POST" || (Softkey{}).HTTPMethod() != "GET" {
		t.Error("HTTPMethod")
	}
}
