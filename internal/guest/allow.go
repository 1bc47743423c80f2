package guest

import (
	"fmt"
	"slices"
	"strings"
)

// AppHeartbeatCommand is the command software inside the guest runs to send
// an application heartbeat (vSphere application monitoring). With no
// argument, or "green", it reports the application healthy; "red" reports it
// failed and "gray" that monitoring is off. It is a shell script that writes
// the word to /run/vireo-guest/app-heartbeat; the agent sends the file's
// modification time and word with every heartbeat. Applications may write
// that file directly instead. The host can run it through Exec too.
const AppHeartbeatCommand = "/bin/vireo-app-heartbeat"

// FwCfgHostName is the QEMU fw_cfg entry the guest takes its host name from:
// start QEMU with -fw_cfg name=opt/org.vireo/hostname,string=NAME. Without
// it, the kernel command line's vireo.hostname=NAME is used, else
// "vireo-guest".
const FwCfgHostName = "opt/org.vireo/hostname"

// allowList is every command the guest agent runs for Exec, mapped to the
// check of its arguments (nil: any arguments). It is deliberately small and
// read-only apart from the application heartbeat: Exec is for observing the
// guest, not administering it.
var allowList = map[string]func(args []string) error{
	"/bin/echo":         nil,
	"/bin/true":         nil,
	"/bin/false":        nil,
	"/bin/uname":        nil,
	"/bin/hostname":     noArgs,
	"/bin/dmesg":        noArgs,
	"/bin/ps":           nil,
	"/usr/bin/uptime":   noArgs,
	"/bin/cat":          readableFiles,
	"/sbin/ip":          readOnlyIP,
	AppHeartbeatCommand: oneOf("green", "red", "gray"),
}

// AllowedCommands returns the paths the guest agent runs for Exec, sorted.
func AllowedCommands() []string {
	var paths []string
	for p := range allowList {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	return paths
}

// checkAllowed says why path with args may not run, or nil if it may.
func checkAllowed(path string, args []string) error {
	check, ok := allowList[path]
	if !ok {
		return fmt.Errorf("%q is not on the guest agent's allow list (%s)", path, strings.Join(AllowedCommands(), ", "))
	}
	if check == nil {
		return nil
	}
	if err := check(args); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

func noArgs(args []string) error {
	if len(args) > 0 {
		return fmt.Errorf("takes no arguments here")
	}
	return nil
}

// readableFiles allows reading kernel state and a few configuration files.
func readableFiles(args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("name the files to read")
	}
	for _, a := range args {
		ok := strings.HasPrefix(a, "/proc/") && !strings.Contains(a, "..") ||
			a == "/etc/hostname" || a == "/etc/resolv.conf"
		if !ok {
			return fmt.Errorf("may read only /proc/*, /etc/hostname and /etc/resolv.conf, not %q", a)
		}
	}
	return nil
}

// readOnlyIP allows ip's listing commands and refuses the ones that change
// the network.
func readOnlyIP(args []string) error {
	for _, a := range args {
		switch a {
		case "add", "del", "delete", "set", "flush", "change", "replace", "append", "prepend", "-batch":
			return fmt.Errorf("may only show the network, not %q it", a)
		}
	}
	return nil
}

func oneOf(words ...string) func([]string) error {
	return func(args []string) error {
		if len(args) > 1 || len(args) == 1 && !slices.Contains(words, args[0]) {
			return fmt.Errorf("takes at most one of %s", strings.Join(words, ", "))
		}
		return nil
	}
}

// sanitizeHostName makes s a valid host name (letters, digits, '-', '.'; at
// most 63 bytes), or "" if nothing is left.
func sanitizeHostName(s string) string {
	s = strings.TrimSpace(s)
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '.':
			b.WriteRune(r)
		case r == '_' || r == ' ':
			b.WriteByte('-')
		}
		if b.Len() == 63 {
			break
		}
	}
	return strings.Trim(b.String(), "-.")
}

// appStatus maps the word an application wrote (green, red, gray) to
// vSphere's name; anything else counts as green: the application is alive.
func appStatus(word string) string {
	switch strings.TrimSpace(word) {
	case "red":
		return AppStatusRed
	case "gray", "grey":
		return AppStatusGray
	default:
		return AppStatusGreen
	}
}
