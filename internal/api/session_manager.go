package api

import (
	"errors"

	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vireo-project/vireo/internal/auth"
	"github.com/vireo-project/vireo/internal/soap"
	"github.com/vireo-project/vireo/internal/vim"
)

// sessionManager is the SessionManager; its currentSession and sessionList
// properties are computed for the caller.
type sessionManager struct {
	mo.SessionManager
	svc *Service
}

func (m *sessionManager) forSession(ctx *soap.Context) mo.Reference {
	c := &sessionManager{SessionManager: m.SessionManager}
	if ctx.Session != nil {
		info := ctx.Session.Info()
		c.CurrentSession = &info
	}
	for _, s := range m.svc.sessions.List() {
		c.SessionList = append(c.SessionList, s.Info())
	}
	return c
}

func (s *Service) registerSessionManager(t *soap.Table) {
	soap.Register(t, "SessionManager", "Login", s.login)
	soap.Register(t, "SessionManager", "Logout", s.logout)
	soap.Register(t, "SessionManager", "SessionIsActive", s.sessionIsActive)
	soap.Register(t, "SessionManager", "TerminateSession", s.terminateSession)
	soap.Register(t, "SessionManager", "AcquireCloneTicket", s.acquireCloneTicket)
	soap.Register(t, "SessionManager", "CloneSession", s.cloneSession)
	soap.Register(t, "SessionManager", "SetLocale", s.setLocale)
	t.Anonymous("Login")
	t.Anonymous("CloneSession")
}

func (s *Service) login(ctx *soap.Context, req *types.Login) (any, error) {
	if err := s.users.Verify(req.UserName, req.Password); err != nil {
		s.events.post(&types.BadUsernameSessionEvent{IpAddress: ctx.RemoteAddr},
			eventSpec{user: req.UserName, msg: "Cannot login " + req.UserName + "@" + ctx.RemoteAddr})
		if errors.Is(err, auth.ErrBadLogin) {
			return nil, vim.NewFault(&types.InvalidLogin{}, "Cannot complete login due to an incorrect user name or password.")
		}
		return nil, err
	}
	sess := s.sessions.Create(req.UserName, req.UserName, ctx.RemoteAddr, ctx.UserAgent, req.Locale)
	ctx.SetSession(sess)
	s.events.post(&types.UserLoginSessionEvent{IpAddress: ctx.RemoteAddr, Locale: sess.Locale, SessionId: sess.Key, UserAgent: ctx.UserAgent},
		eventSpec{user: req.UserName, msg: "User " + req.UserName + "@" + ctx.RemoteAddr + " logged in as " + ctx.UserAgent})
	return &types.LoginResponse{Returnval: sess.Info()}, nil
}

func (s *Service) logout(ctx *soap.Context, _ *types.Logout) (any, error) {
	info := ctx.Session.Info()
	s.sessions.End(ctx.Session.Key)
	s.events.post(&types.UserLogoutSessionEvent{IpAddress: info.IpAddress, SessionId: info.Key, UserAgent: info.UserAgent,
		CallCount: info.CallCount, LoginTime: &info.LoginTime},
		eventSpec{user: info.UserName, msg: "User " + info.UserName + "@" + info.IpAddress + " logged out (login time: " +
			info.LoginTime.Format("Monday, 02 January, 2006 03:04:05 PM") + ", number of API invocations: " + itoa(info.CallCount) + ", user agent: " + info.UserAgent + ")"})
	return &types.LogoutResponse{}, nil
}

func (s *Service) sessionIsActive(ctx *soap.Context, req *types.SessionIsActive) (any, error) {
	sess, ok := s.sessions.Get(req.SessionID)
	return &types.SessionIsActiveResponse{Returnval: ok && sess.UserName == req.UserName}, nil
}

func (s *Service) terminateSession(ctx *soap.Context, req *types.TerminateSession) (any, error) {
	for _, k := range req.SessionId {
		if k == ctx.Session.Key {
			return nil, vim.InvalidArgument("sessionId", "A session cannot terminate itself; use Logout.")
		}
		if _, ok := s.sessions.Get(k); !ok {
			return nil, vim.NotFound("The session %q does not exist.", k)
		}
	}
	for _, k := range req.SessionId {
		s.sessions.End(k)
	}
	return &types.TerminateSessionResponse{}, nil
}

// cloneTickets maps one-time clone tickets to the session they clone.
type cloneTickets struct{}

func (s *Service) acquireCloneTicket(ctx *soap.Context, _ *types.AcquireCloneTicket) (any, error) {
	ticket := s.sessions.Create(ctx.Session.UserName, ctx.Session.FullName, ctx.RemoteAddr, ctx.UserAgent, ctx.Session.Locale)
	ctx.Session.StoreValue(cloneTickets{}, ticket.Key)
	return &types.AcquireCloneTicketResponse{Returnval: "cst-" + ticket.Key}, nil
}

func (s *Service) cloneSession(ctx *soap.Context, req *types.CloneSession) (any, error) {
	key := req.CloneTicket
	if len(key) > 4 && key[:4] == "cst-" {
		key = key[4:]
	}
	sess, ok := s.sessions.Get(key)
	if !ok {
		return nil, vim.NewFault(&types.InvalidLogin{}, "The clone ticket is invalid or already used.")
	}
	ctx.SetSession(sess)
	return &types.CloneSessionResponse{Returnval: sess.Info()}, nil
}

func (s *Service) setLocale(ctx *soap.Context, req *types.SetLocale) (any, error) {
	return &types.SetLocaleResponse{}, nil
}
