package pbx

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/icholy/digest"
)

// digestAuth is the registrar's SIP digest authentication (RFC 3261 §22,
// RFC 8760), as an MX-ONE does it for SIP extensions: every REGISTER is
// challenged (401 with one WWW-Authenticate per algorithm, SHA-256 first,
// RFC 8760 §2.4), and the answer must come from the extension's own
// credentials, on a nonce this registrar issued and that has not expired,
// with a nonce count it has not seen (a replayed REGISTER is refused). It
// is pure: the time comes in; the nonces are its state.
type digestAuth struct {
	realm  string
	life   time.Duration // a nonce older than this is stale
	nonces map[string]*nonceState
	issued []string      // nonces in the order issued (oldest first), some perhaps forgotten since
	newID  func() string // nonce maker; random unless a test sets it
}

type nonceState struct {
	issued time.Duration // lab time
	lastNC uint64        // the highest nonce count answered on it
}

// authAlgorithms are offered in this order (RFC 8760 §2.4: the preferred
// first); MD5 stays for phones that know nothing else.
var authAlgorithms = []string{"SHA-256", "MD5"}

// maxNonces bounds the state a flood of unanswered challenges can make.
const maxNonces = 4096

func newDigestAuth(realm string, life time.Duration) *digestAuth {
	return &digestAuth{realm: realm, life: life, nonces: map[string]*nonceState{}, newID: randomNonce}
}

func randomNonce() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// challenges are the WWW-Authenticate values of a 401 issued at now; stale
// marks them as answering an expired nonce (RFC 7616 §3.3), so a phone
// retries at once without asking its user.
func (a *digestAuth) challenges(now time.Duration, stale bool) []string {
	a.prune(now)
	nonce := a.newID()
	a.nonces[nonce] = &nonceState{issued: now}
	a.issued = append(a.issued, nonce)
	out := make([]string, len(authAlgorithms))
	for i, alg := range authAlgorithms {
		c := digest.Challenge{Realm: a.realm, Nonce: nonce, Algorithm: alg, QOP: []string{"auth"}, Stale: stale}
		out[i] = c.String()
	}
	return out
}

// prune forgets expired nonces, and the oldest when there are too many.
// Nonces are issued in time order, so it looks only at the oldest: a
// challenge costs the same with 10 phones or 1,000.
func (a *digestAuth) prune(now time.Duration) {
	for len(a.issued) > 0 {
		n := a.issued[0]
		s, ok := a.nonces[n]
		if ok && now-s.issued <= a.life && len(a.nonces) < maxNonces {
			return
		}
		delete(a.nonces, n)
		a.issued = a.issued[1:]
	}
}

// authVerdict is the outcome of checking an Authorization header.
type authVerdict uint8

const (
	authOK      authVerdict = iota
	authMissing             // no credentials: challenge
	authStale               // a nonce this registrar issued, expired: challenge with stale=true
	authFailed              // wrong credentials, unknown nonce, replay: refuse and challenge afresh
)

// check judges the Authorization header value of a method request for
// user (the extension) whose password is password ("" for an extension
// not in the directory, which no answer can pass). why says what failed.
func (a *digestAuth) check(now time.Duration, method, header, user, password string) (authVerdict, string) {
	if header == "" {
		return authMissing, "no credentials"
	}
	cr, err := digest.ParseCredentials(header)
	if err != nil {
		return authFailed, fmt.Sprintf("unreadable Authorization: %v", err)
	}
	st, ok := a.nonces[cr.Nonce]
	switch {
	case !ok:
		return authFailed, "a nonce this registrar did not issue (or forgot)"
	case now-st.issued > a.life:
		delete(a.nonces, cr.Nonce)
		return authStale, fmt.Sprintf("nonce expired after %s", a.life)
	case cr.Realm != a.realm:
		return authFailed, fmt.Sprintf("realm %q, want %q", cr.Realm, a.realm)
	case cr.Username != user:
		return authFailed, fmt.Sprintf("credentials of %q for extension %s", cr.Username, user)
	case password == "":
		return authFailed, "no such extension"
	case cr.QOP != "auth":
		return authFailed, fmt.Sprintf("qop %q, want auth", cr.QOP)
	}
	nc := uint64(max(cr.Nc, 0))
	if nc == 0 || nc <= st.lastNC {
		return authFailed, fmt.Sprintf("nonce count %08x already used: a replay", cr.Nc)
	}
	alg := cr.Algorithm
	if alg == "" {
		alg = "MD5"
	}
	want, err := digest.Digest(&digest.Challenge{Realm: a.realm, Nonce: cr.Nonce, Algorithm: alg, QOP: []string{"auth"}},
		digest.Options{Method: method, URI: cr.URI, Username: user, Password: password, Cnonce: cr.Cnonce, Count: cr.Nc})
	if err != nil {
		return authFailed, fmt.Sprintf("algorithm %q: %v", alg, err)
	}
	if subtle.ConstantTimeCompare([]byte(want.Response), []byte(cr.Response)) != 1 {
		return authFailed, "wrong password"
	}
	st.lastNC = nc
	return authOK, ""
}
