package console

import (
	"crypto/rand"
	"sync"
	"time"

	"fiveid"
)

// session is one signed-in person. It lives in this process only: the
// cookie holds a random ID, never the key; a restart signs everyone out.
// The key's secret stays here so every request authenticates again
// through the same use case as an API call (a revoked key ends its
// sessions at once).
type session struct {
	id, csrf string
	secret   string
	p        fiveid.Principal
	created  time.Time
	seen     time.Time
	flash    *flash
}

type sessionState int

const (
	sessionOK sessionState = iota
	sessionUnknown
	sessionExpired
)

type sessions struct {
	mu           sync.Mutex
	m            map[string]*session
	idle, maxAge time.Duration
	now          func() time.Time
}

func newSessions(idle, maxAge time.Duration, now func() time.Time) *sessions {
	return &sessions{m: map[string]*session{}, idle: idle, maxAge: maxAge, now: now}
}

func (ss *sessions) expired(s *session, now time.Time) bool {
	return now.Sub(s.seen) > ss.idle || now.Sub(s.created) > ss.maxAge
}

// create starts a session, and forgets every expired one.
func (ss *sessions) create(secret string, p fiveid.Principal) session {
	now := ss.now()
	s := &session{id: rand.Text() + rand.Text(), csrf: rand.Text(), secret: secret, p: p, created: now, seen: now}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for id, o := range ss.m {
		if ss.expired(o, now) {
			delete(ss.m, id)
		}
	}
	ss.m[s.id] = s
	return *s
}

// get returns a copy of a live session and marks it used.
func (ss *sessions) get(id string) (*session, sessionState) {
	now := ss.now()
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s, ok := ss.m[id]
	if !ok {
		return nil, sessionUnknown
	}
	if ss.expired(s, now) {
		delete(ss.m, id)
		return nil, sessionExpired
	}
	s.seen = now
	cp := *s
	cp.flash = nil
	return &cp, sessionOK
}

func (ss *sessions) drop(id string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	delete(ss.m, id)
}

func (ss *sessions) setFlash(id string, f *flash) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if s, ok := ss.m[id]; ok {
		s.flash = f
	}
}

func (ss *sessions) takeFlash(id string) *flash {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s, ok := ss.m[id]
	if !ok {
		return nil
	}
	f := s.flash
	s.flash = nil
	return f
}
