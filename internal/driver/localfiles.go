package driver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"syscall"
)

// LocalFiles implements Files, and the file side of a Driver, over datastores
// that are directories of the local file system (local disks or mounted NFS
// exports). Backends embed a *LocalFiles and give it the way they create
// virtual disks.
//
// A datastore whose directory has vanished resolves to ErrDatastoreNotFound,
// so a file is never created in a re-made, empty datastore directory.
type LocalFiles struct {
	// Mounts returns the datastore directories by datastore name. It is
	// called for every path resolved, so a host can follow mounts that change.
	Mounts func() map[string]string
	// Root, when set, is a directory whose direct children are datastore
	// directories; like every datastore's own directory, they are never
	// deleted or replaced.
	Root string
	// NewDisk creates the virtual disk file p (a host path whose parent
	// exists and which does not exist itself) with the given capacity; nil
	// creates a sparse raw file.
	NewDisk func(ctx context.Context, p string, capacityBytes int64) error
}

var _ Files = (*LocalFiles)(nil)

var dsPath = regexp.MustCompile(`^\[([^\]]+)\]\s*(.*)$`)

// ParsePath splits the datastore path "[ds] dir/file" into the datastore's
// name and the slash-separated path inside it; ok is false when p is not a
// datastore path.
func ParsePath(p string) (ds, rel string, ok bool) {
	m := dsPath.FindStringSubmatch(p)
	if m == nil {
		return "", "", false
	}
	return m[1], m[2], true
}

// Resolve maps the datastore path "[ds] dir/file" to a path of the local
// file system. The path cannot leave the datastore's directory. It returns
// an error wrapping ErrDatastoreNotFound when p is not a datastore path, names
// an unknown datastore or one whose directory is gone.
func (l *LocalFiles) Resolve(p string) (string, error) {
	name, rel, ok := ParsePath(p)
	if !ok {
		return "", fmt.Errorf("%q is not a datastore path: %w", p, ErrDatastoreNotFound)
	}
	dir, ok := l.Mounts()[name]
	if !ok {
		return "", fmt.Errorf("datastore %q: %w", name, ErrDatastoreNotFound)
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return "", fmt.Errorf("datastore %q: its directory is gone: %w", name, ErrDatastoreNotFound)
	}
	return filepath.Join(dir, filepath.Clean("/"+rel)), nil
}

// IsDatastoreRoot reports whether the local path p is a datastore's own
// directory (or a direct child of Root), which is never deleted.
func (l *LocalFiles) IsDatastoreRoot(p string) bool {
	p = filepath.Clean(p)
	for _, dir := range l.Mounts() {
		if filepath.Clean(dir) == p {
			return true
		}
	}
	return l.Root != "" && filepath.Dir(p) == filepath.Clean(l.Root)
}

// Datastores measures the datastore directories, sorted by name; shared
// names the datastores other hosts mount too.
func (l *LocalFiles) Datastores(shared map[string]bool) []Datastore {
	var out []Datastore
	for name, dir := range l.Mounts() {
		ds := Datastore{Name: name, Dir: dir, Shared: shared[name]}
		var st syscall.Statfs_t
		if fi, err := os.Stat(dir); err == nil && fi.IsDir() && syscall.Statfs(dir, &st) == nil {
			ds.CapacityBytes = int64(st.Blocks) * int64(st.Bsize)
			ds.FreeBytes = int64(st.Bavail) * int64(st.Bsize)
			ds.Accessible = true
		}
		out = append(out, ds)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// MakeVMFiles creates a VM's directory and those of its disks that do not
// exist yet.
func (l *LocalFiles) MakeVMFiles(ctx context.Context, spec VMSpec) error {
	if spec.Dir != "" {
		dir, err := l.Resolve(spec.Dir)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("%s: %w", spec.Dir, StripPath(err))
		}
	}
	for _, disk := range spec.Disks {
		p, err := l.Resolve(disk.Path)
		if err != nil {
			return err
		}
		if _, err := os.Stat(p); err == nil {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("%s: %w", disk.Path, StripPath(err))
		}
		if err := l.newDisk(ctx, p, disk.CapacityBytes); err != nil {
			return fmt.Errorf("create disk %s: %w", disk.Path, StripPath(err))
		}
	}
	return nil
}

// RemoveVMFiles deletes a VM's disks and its directory with everything in
// it, unless that is a datastore's root. Files already gone are no error.
func (l *LocalFiles) RemoveVMFiles(spec VMSpec) error {
	var errs []error
	for _, disk := range spec.Disks {
		if p, err := l.Resolve(disk.Path); err == nil {
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, fmt.Errorf("%s: %w", disk.Path, StripPath(err)))
			}
		}
	}
	if spec.Dir != "" {
		if p, err := l.Resolve(spec.Dir); err == nil && !l.IsDatastoreRoot(p) {
			if err := os.RemoveAll(p); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", spec.Dir, StripPath(err)))
			}
		}
	}
	return errors.Join(errs...)
}

// DeleteFile implements Driver.DeleteFile: it removes a file or an empty
// directory; a missing file is not an error.
func (l *LocalFiles) DeleteFile(ctx context.Context, path string) error {
	p, err := l.Resolve(path)
	if err != nil {
		return err
	}
	if l.IsDatastoreRoot(p) {
		return fmt.Errorf("%s is a datastore, not a file: %w", path, fs.ErrPermission)
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete %s: %w", path, StripPath(err))
	}
	return nil
}

// Stat implements Files.
func (l *LocalFiles) Stat(ctx context.Context, path string) (FileInfo, error) {
	p, err := l.Resolve(path)
	if err != nil {
		return FileInfo{}, err
	}
	fi, err := os.Stat(p)
	if err != nil {
		return FileInfo{}, fmt.Errorf("%s: %w", path, StripPath(err))
	}
	return fileInfo(fi), nil
}

// ReadDir implements Files.
func (l *LocalFiles) ReadDir(ctx context.Context, path string) ([]FileInfo, error) {
	p, err := l.Resolve(path)
	if err != nil {
		return nil, err
	}
	if err := isDir(p, path); err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(p)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, StripPath(err))
	}
	out := make([]FileInfo, 0, len(entries))
	for _, e := range entries {
		fi, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		out = append(out, fileInfo(fi))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Mkdir implements Files.
func (l *LocalFiles) Mkdir(ctx context.Context, path string, parents bool) error {
	p, err := l.Resolve(path)
	if err != nil {
		return err
	}
	if parents {
		err = os.MkdirAll(p, 0o755)
	} else {
		err = os.Mkdir(p, 0o755)
	}
	if err != nil {
		return fmt.Errorf("mkdir %s: %w", path, StripPath(err))
	}
	return nil
}

// Remove implements Files.
func (l *LocalFiles) Remove(ctx context.Context, path string) error {
	p, err := l.Resolve(path)
	if err != nil {
		return err
	}
	if l.IsDatastoreRoot(p) {
		return fmt.Errorf("%s is a datastore's root: %w", path, fs.ErrPermission)
	}
	if _, err := os.Lstat(p); err != nil {
		return fmt.Errorf("remove %s: %w", path, StripPath(err))
	}
	if err := os.RemoveAll(p); err != nil {
		return fmt.Errorf("remove %s: %w", path, StripPath(err))
	}
	return nil
}

// Move implements Files.
func (l *LocalFiles) Move(ctx context.Context, src, dst string, force bool) error {
	sp, dp, err := l.transferPaths(src, dst, force)
	if err != nil {
		return err
	}
	if err := os.Rename(sp, dp); err != nil {
		var le *os.LinkError
		if !errors.As(err, &le) || !errors.Is(le.Err, syscall.EXDEV) {
			return fmt.Errorf("move %s to %s: %w", src, dst, StripPath(err))
		}
		if err := copyTree(sp, dp); err != nil {
			return fmt.Errorf("move %s to %s: %w", src, dst, StripPath(err))
		}
		if err := os.RemoveAll(sp); err != nil {
			return fmt.Errorf("move %s to %s: %w", src, dst, StripPath(err))
		}
	}
	return nil
}

// Copy implements Files.
func (l *LocalFiles) Copy(ctx context.Context, src, dst string, force bool) error {
	sp, dp, err := l.transferPaths(src, dst, force)
	if err != nil {
		return err
	}
	if err := copyTree(sp, dp); err != nil {
		return fmt.Errorf("copy %s to %s: %w", src, dst, StripPath(err))
	}
	return nil
}

// transferPaths resolves the source and destination of a move or copy: the
// source must exist, the destination's parent too, and an existing
// destination is removed when force is set and an error otherwise.
func (l *LocalFiles) transferPaths(src, dst string, force bool) (string, string, error) {
	sp, err := l.Resolve(src)
	if err != nil {
		return "", "", err
	}
	dp, err := l.Resolve(dst)
	if err != nil {
		return "", "", err
	}
	if _, err := os.Lstat(sp); err != nil {
		return "", "", fmt.Errorf("%s: %w", src, StripPath(err))
	}
	if l.IsDatastoreRoot(sp) || l.IsDatastoreRoot(dp) {
		return "", "", fmt.Errorf("a datastore's root cannot be moved or replaced: %w", fs.ErrPermission)
	}
	if err := isDir(filepath.Dir(dp), dst+"/.."); err != nil {
		return "", "", err
	}
	if _, err := os.Lstat(dp); err == nil {
		if !force {
			return "", "", fmt.Errorf("%s: %w", dst, fs.ErrExist)
		}
		if err := os.RemoveAll(dp); err != nil {
			return "", "", fmt.Errorf("replace %s: %w", dst, StripPath(err))
		}
	}
	return sp, dp, nil
}

// OpenFile implements Files.
func (l *LocalFiles) OpenFile(ctx context.Context, path string) (io.ReadSeekCloser, error) {
	p, err := l.Resolve(path)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, StripPath(err))
	}
	if fi, err := f.Stat(); err == nil && fi.IsDir() {
		f.Close()
		return nil, fmt.Errorf("open %s: %w", path, ErrIsDirectory)
	}
	return f, nil
}

// CreateFile implements Files.
func (l *LocalFiles) CreateFile(ctx context.Context, path string) (io.WriteCloser, error) {
	p, err := l.Resolve(path)
	if err != nil {
		return nil, err
	}
	if fi, err := os.Stat(p); err == nil && fi.IsDir() {
		return nil, fmt.Errorf("create %s: %w", path, ErrIsDirectory)
	}
	f, err := os.Create(p)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", path, StripPath(err))
	}
	return f, nil
}

// CreateDisk implements Files with NewDisk.
func (l *LocalFiles) CreateDisk(ctx context.Context, path string, capacityBytes int64) error {
	p, err := l.Resolve(path)
	if err != nil {
		return err
	}
	if _, err := os.Lstat(p); err == nil {
		return fmt.Errorf("create disk %s: %w", path, fs.ErrExist)
	}
	if err := isDir(filepath.Dir(p), path+"/.."); err != nil {
		return err
	}
	if err := l.newDisk(ctx, p, capacityBytes); err != nil {
		return fmt.Errorf("create disk %s: %w", path, StripPath(err))
	}
	return nil
}

func (l *LocalFiles) newDisk(ctx context.Context, p string, capacityBytes int64) error {
	if l.NewDisk != nil {
		return l.NewDisk(ctx, p, capacityBytes)
	}
	return CreateSparse(p, capacityBytes)
}

// CreateSparse creates the file p, which must not exist, as a sparse file of
// size bytes.
func CreateSparse(p string, size int64) error {
	f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	err = f.Truncate(size)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// isDir returns nil if p is a directory, and an error naming path otherwise.
func isDir(p, path string) error {
	fi, err := os.Stat(p)
	if err != nil {
		return fmt.Errorf("%s: %w", path, StripPath(err))
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s: %w", path, ErrNotDirectory)
	}
	return nil
}

// StripPath drops the host file name an *fs.PathError or *os.LinkError
// in err carries, which means nothing to a client, keeping its cause (a
// missing parent directory reads as fs.ErrNotExist). Other errors are
// returned as they are.
func StripPath(err error) error {
	var cause error
	var pe *fs.PathError
	var le *os.LinkError
	switch {
	case errors.As(err, &pe):
		cause = pe.Err
	case errors.As(err, &le):
		cause = le.Err
	default:
		return err
	}
	if errors.Is(cause, syscall.ENOTDIR) {
		return fs.ErrNotExist
	}
	return cause
}

func fileInfo(fi fs.FileInfo) FileInfo {
	out := FileInfo{Name: fi.Name(), Size: fi.Size(), ModTime: fi.ModTime(), IsDir: fi.IsDir()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		uid := strconv.FormatUint(uint64(st.Uid), 10)
		out.Owner = uid
		if u, err := user.LookupId(uid); err == nil {
			out.Owner = u.Username
		}
	}
	return out
}

// copyTree copies the file or directory src to dst.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if e.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		return copyFile(p, target)
	})
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := CopySparse(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
