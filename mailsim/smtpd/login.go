package smtpd

import (
	"errors"
	"sync"

	"github.com/emersion/go-sasl"
)

// LOGIN challenges, sent base64-encoded by the SMTP layer.
var (
	loginUsernameChallenge = []byte("Username:")
	loginPasswordChallenge = []byte("Password:")
)

// ErrLoginUnexpectedResponse is returned when a LOGIN client keeps talking
// after the exchange is over.
var ErrLoginUnexpectedResponse = errors.New("smtpd: LOGIN: unexpected client response")

// LoginAuthenticator checks a LOGIN user name and password.
type LoginAuthenticator func(username, password string) error

// LoginServer is the server side of the obsolete but ubiquitous LOGIN SASL
// mechanism (draft-murchison-sasl-login), which go-sasl implements only for
// clients. The server asks "Username:" then "Password:"; a client may send
// the user name as its initial response and skip the first challenge.
type LoginServer struct {
	auth LoginAuthenticator

	mu       sync.Mutex
	step     int // 0: start, 1: want user name, 2: want password, 3: done
	username string
}

var _ sasl.Server = (*LoginServer)(nil)

// NewLoginServer returns a LOGIN server checking credentials with auth.
func NewLoginServer(auth LoginAuthenticator) *LoginServer {
	return &LoginServer{auth: auth}
}

// Next implements sasl.Server. A nil response at the start means no
// initial response; an empty one is an empty user name.
func (l *LoginServer) Next(response []byte) (challenge []byte, done bool, err error) {
	l.mu.Lock()
	switch l.step {
	case 0:
		if response == nil {
			l.step = 1
			l.mu.Unlock()
			return loginUsernameChallenge, false, nil
		}
		fallthrough
	case 1:
		l.username = string(response)
		l.step = 2
		l.mu.Unlock()
		return loginPasswordChallenge, false, nil
	case 2:
		l.step = 3
		username := l.username
		l.mu.Unlock()
		return nil, true, l.auth(username, string(response))
	default:
		l.mu.Unlock()
		return nil, true, ErrLoginUnexpectedResponse
	}
}

// Username returns the user name received so far, if any.
func (l *LoginServer) Username() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.username
}

// loginClient is a LOGIN client that, unlike go-sasl's, can also wait for
// the "Username:" challenge instead of sending an initial response.
type loginClient struct {
	username, password string
	initialResponse    bool
}

// NewLoginClient returns a LOGIN client for tests and actors. With
// initialResponse the user name goes with the AUTH command.
func NewLoginClient(username, password string, initialResponse bool) sasl.Client {
	return &loginClient{username: username, password: password, initialResponse: initialResponse}
}

func (c *loginClient) Start() (string, []byte, error) {
	if c.initialResponse {
		return sasl.Login, []byte(c.username), nil
	}
	return sasl.Login, nil, nil
}

func (c *loginClient) Next(challenge []byte) ([]byte, error) {
	switch string(challenge) {
	case string(loginUsernameChallenge):
		return []byte(c.username), nil
	case string(loginPasswordChallenge):
		return []byte(c.password), nil
	}
	return nil, sasl.ErrUnexpectedServerChallenge
}
