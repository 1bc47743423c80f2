// Package auth holds user accounts and verifies their passwords. Passwords
// are stored as salted PBKDF2-SHA256 hashes in the store's settings.
package auth

import (
	"context"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/vireo-project/vireo/internal/store"
)

// Errors returned by Users.
var (
	// ErrBadLogin is returned for an unknown user or a wrong password.
	ErrBadLogin = errors.New("auth: incorrect user name or password")
)

const (
	metaPrefix = "user/"
	iterations = 10000
)

// Users is the account list, backed by a store. It is safe for concurrent use.
type Users struct {
	st store.Store

	// mu guards cache, which maps a user name to its stored hash, and
	// verifier (see SetVerifier).
	mu       sync.RWMutex
	cache    map[string]string
	verifier func(name, password string) error
}

// NewUsers loads the accounts from st.
func NewUsers(ctx context.Context, st store.Store) (*Users, error) {
	m, err := st.MetaPrefix(ctx, metaPrefix)
	if err != nil {
		return nil, fmt.Errorf("auth: load users: %w", err)
	}
	u := &Users{st: st, cache: map[string]string{}}
	for k, v := range m {
		u.cache[strings.TrimPrefix(k, metaPrefix)] = v
	}
	return u, nil
}

// Exists reports whether the user exists.
func (u *Users) Exists(name string) bool {
	u.mu.RLock()
	defer u.mu.RUnlock()
	_, ok := u.cache[name]
	return ok
}

// Count returns the number of accounts.
func (u *Users) Count() int {
	u.mu.RLock()
	defer u.mu.RUnlock()
	return len(u.cache)
}

// Set creates the user or replaces its password, durably.
func (u *Users) Set(ctx context.Context, name, password string) error {
	if name == "" {
		return errors.New("auth: empty user name")
	}
	h, err := hash(password)
	if err != nil {
		return err
	}
	if err := u.st.Commit(ctx, &store.Batch{Meta: map[string]string{metaPrefix + name: h}}); err != nil {
		return fmt.Errorf("auth: save user %s: %w", name, err)
	}
	u.mu.Lock()
	u.cache[name] = h
	u.mu.Unlock()
	return nil
}

// Verify checks a user's password; it returns ErrBadLogin on mismatch.
func (u *Users) Verify(name, password string) error {
	u.mu.RLock()
	h, ok := u.cache[name]
	verifier := u.verifier
	u.mu.RUnlock()
	if verifier != nil {
		return verifier(name, password)
	}
	if !ok {
		return ErrBadLogin
	}
	parts := strings.Split(h, "$")
	if len(parts) != 4 || parts[0] != "pbkdf2-sha256" {
		return fmt.Errorf("auth: user %s has an unreadable password hash", name)
	}
	iter, err := strconv.Atoi(parts[1])
	if err != nil {
		return fmt.Errorf("auth: user %s: %w", name, err)
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[2])
	want, err2 := base64.RawStdEncoding.DecodeString(parts[3])
	if err1 != nil || err2 != nil {
		return fmt.Errorf("auth: user %s has an unreadable password hash", name)
	}
	got, err := pbkdf2.Key(sha256.New, password, salt, iter, len(want))
	if err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	if subtle.ConstantTimeCompare(got, want) != 1 {
		return ErrBadLogin
	}
	return nil
}

func hash(password string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("auth: salt: %w", err)
	}
	k, err := pbkdf2.Key(sha256.New, password, salt, iterations, 32)
	if err != nil {
		return "", fmt.Errorf("auth: %w", err)
	}
	return fmt.Sprintf("pbkdf2-sha256$%d$%s$%s", iterations,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(k)), nil
}

// GeneratePassword returns a random password suitable for a first-run admin.
func GeneratePassword() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
