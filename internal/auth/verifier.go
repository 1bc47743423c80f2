package auth

// SetVerifier replaces the stored accounts as the judge of passwords: once
// set, Verify returns fn's verdict (nil to accept, ErrBadLogin or an error
// wrapping it to refuse) and ignores the stored hashes. `vireo sim` uses it
// for vcsim's login rule, whose credentials come from the command line and
// are never stored. A nil fn restores the stored accounts.
func (u *Users) SetVerifier(fn func(name, password string) error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.verifier = fn
}
