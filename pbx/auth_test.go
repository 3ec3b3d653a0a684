package pbx

import (
	"strings"
	"testing"
	"time"

	"github.com/icholy/digest"
)

// digestAnswer is what a phone computes for challenge c (sipgo does the same
// through icholy/digest).
func digestAnswer(t *testing.T, c, method, uri, user, password string, nc int) string {
	t.Helper()
	chal, err := digest.ParseChallenge(c)
	if err != nil {
		t.Fatal(err)
	}
	cr, err := digest.Digest(chal, digest.Options{Method: method, URI: uri, Username: user, Password: password, Count: nc})
	if err != nil {
		t.Fatal(err)
	}
	return cr.String()
}

func TestDigestAuth(t *testing.T) {
	a := newDigestAuth("reclab", time.Minute)
	n := 0
	a.newID = func() string { n++; return strings.Repeat("ab", 8) + string(rune('a'+n)) }
	uri := "sip:127.20.0.1"

	cs := a.challenges(0, false)
	if len(cs) != 2 || !strings.Contains(cs[0], "algorithm=SHA-256") || !strings.Contains(cs[1], "algorithm=MD5") {
		t.Fatalf("challenges %q: want SHA-256 first, then MD5 (RFC 8760 §2.4)", cs)
	}
	for i, alg := range []string{"SHA-256", "MD5"} {
		good := digestAnswer(t, cs[i], "REGISTER", uri, "1001", "s3cret", i+1)
		if v, why := a.check(time.Second, "REGISTER", good, "1001", "s3cret"); v != authOK {
			t.Errorf("%s: the extension's own answer refused: %s", alg, why)
		}
		// The same answer again, nonce count and all: a replay.
		if v, why := a.check(time.Second, "REGISTER", good, "1001", "s3cret"); v != authFailed || !strings.Contains(why, "replay") {
			t.Errorf("%s: a replay got %v (%s)", alg, v, why)
		}
	}
	for _, tc := range []struct {
		name, header, user, password string
		want                         authVerdict
		why                          string
	}{
		{"no credentials", "", "1001", "s3cret", authMissing, "no credentials"},
		{"wrong password", digestAnswer(t, a.challenges(0, false)[0], "REGISTER", uri, "1001", "guess", 1), "1001", "s3cret", authFailed, "wrong password"},
		{"another extension's credentials", digestAnswer(t, a.challenges(0, false)[0], "REGISTER", uri, "1002", "x", 1), "1001", "s3cret", authFailed, `credentials of "1002"`},
		{"an extension not in the directory", digestAnswer(t, a.challenges(0, false)[0], "REGISTER", uri, "1999", "x", 1), "1999", "", authFailed, "no such extension"},
		{"a nonce never issued", `Digest username="1001", realm="reclab", nonce="forged", uri="sip:x", response="00", qop=auth, nc=00000001, cnonce="c"`, "1001", "s3cret", authFailed, "did not issue"},
	} {
		if v, why := a.check(time.Second, "REGISTER", tc.header, tc.user, tc.password); v != tc.want || !strings.Contains(why, tc.why) {
			t.Errorf("%s: %v (%s), want %v (%s)", tc.name, v, why, tc.want, tc.why)
		}
	}
	// A nonce past its life is stale: the phone gets a fresh challenge
	// (stale=true) and retries without asking anyone.
	old := a.challenges(0, false)[0]
	late := digestAnswer(t, old, "REGISTER", uri, "1001", "s3cret", 1)
	if v, why := a.check(2*time.Minute, "REGISTER", late, "1001", "s3cret"); v != authStale {
		t.Errorf("an expired nonce: %v (%s), want stale", v, why)
	}
	if c := a.challenges(2*time.Minute, true)[0]; !strings.Contains(c, "stale=true") {
		t.Errorf("stale challenge %q", c)
	}
	// A flood of unanswered challenges holds bounded state.
	for range 2 * maxNonces {
		a.challenges(2*time.Minute, false)
	}
	if len(a.nonces) > maxNonces {
		t.Errorf("%d nonces kept, at most %d", len(a.nonces), maxNonces)
	}
}

// FuzzDigestCheck: any Authorization header; the check never panics and
// never lets in anything but the answer computed with the password.
func FuzzDigestCheck(f *testing.F) {
	f.Add(`Digest username="1001", realm="reclab", nonce="n1", uri="sip:x", response="00", qop=auth, nc=00000001, cnonce="c"`)
	f.Add(`Digest username="1001", realm="reclab", nonce="n1", uri="sip:x", response="00", algorithm=SHA-256, qop=auth, nc=ffffffff, cnonce="c"`)
	f.Add("Basic dXNlcjpwYXNz")
	f.Fuzz(func(t *testing.T, header string) {
		a := newDigestAuth("reclab", time.Minute)
		a.newID = func() string { return "n1" }
		a.challenges(0, false)
		if v, _ := a.check(time.Second, "REGISTER", header, "1001", "s3cret"); v == authOK {
			// Only a real answer passes: it must be the digest of the password.
			cr, err := digest.ParseCredentials(header)
			if err != nil {
				t.Fatalf("passed but does not parse: %q", header)
			}
			want, _ := digest.Digest(&digest.Challenge{Realm: "reclab", Nonce: "n1", Algorithm: cr.Algorithm, QOP: []string{"auth"}},
				digest.Options{Method: "REGISTER", URI: cr.URI, Username: "1001", Password: "s3cret", Cnonce: cr.Cnonce, Count: cr.Nc})
			if want == nil || want.Response != cr.Response {
				t.Fatalf("passed without the password: %q", header)
			}
		}
	})
}
