package sim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"

	"github.com/vireo-project/vireo/internal/driver"
)

var _ driver.Files = (*Driver)(nil)

// Stat implements driver.Files.
func (d *Driver) Stat(ctx context.Context, path string) (driver.FileInfo, error) {
	p, err := d.resolve(path)
	if err != nil {
		return driver.FileInfo{}, err
	}
	fi, err := os.Stat(p)
	if err != nil {
		return driver.FileInfo{}, fmt.Errorf("sim: %s: %w", path, unwrapPathError(err))
	}
	return fileInfo(fi), nil
}

// ReadDir implements driver.Files.
func (d *Driver) ReadDir(ctx context.Context, path string) ([]driver.FileInfo, error) {
	p, err := d.resolve(path)
	if err != nil {
		return nil, err
	}
	if err := isDir(p, path); err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(p)
	if err != nil {
		return nil, fmt.Errorf("sim: %s: %w", path, unwrapPathError(err))
	}
	out := make([]driver.FileInfo, 0, len(entries))
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

// Mkdir implements driver.Files.
func (d *Driver) Mkdir(ctx context.Context, path string, parents bool) error {
	p, err := d.resolve(path)
	if err != nil {
		return err
	}
	if parents {
		err = os.MkdirAll(p, 0o755)
	} else {
		err = os.Mkdir(p, 0o755)
	}
	if err != nil {
		return fmt.Errorf("sim: mkdir %s: %w", path, unwrapPathError(err))
	}
	return nil
}

// Remove implements driver.Files.
func (d *Driver) Remove(ctx context.Context, path string) error {
	p, err := d.resolve(path)
	if err != nil {
		return err
	}
	if d.isDatastoreRoot(p) {
		return fmt.Errorf("sim: %s is a datastore's root: %w", path, fs.ErrPermission)
	}
	if _, err := os.Lstat(p); err != nil {
		return fmt.Errorf("sim: remove %s: %w", path, unwrapPathError(err))
	}
	if err := os.RemoveAll(p); err != nil {
		return fmt.Errorf("sim: remove %s: %w", path, err)
	}
	return nil
}

// Move implements driver.Files.
func (d *Driver) Move(ctx context.Context, src, dst string, force bool) error {
	sp, dp, err := d.transferPaths(src, dst, force)
	if err != nil {
		return err
	}
	if err := os.Rename(sp, dp); err != nil {
		var le *os.LinkError
		if !errors.As(err, &le) || !errors.Is(le.Err, syscall.EXDEV) {
			return fmt.Errorf("sim: move %s to %s: %w", src, dst, err)
		}
		if err := copyTree(sp, dp); err != nil {
			return fmt.Errorf("sim: move %s to %s: %w", src, dst, err)
		}
		return os.RemoveAll(sp)
	}
	return nil
}

// Copy implements driver.Files.
func (d *Driver) Copy(ctx context.Context, src, dst string, force bool) error {
	sp, dp, err := d.transferPaths(src, dst, force)
	if err != nil {
		return err
	}
	if err := copyTree(sp, dp); err != nil {
		return fmt.Errorf("sim: copy %s to %s: %w", src, dst, err)
	}
	return nil
}

// transferPaths resolves the source and destination of a move or copy: the
// source must exist, the destination's parent too, and an existing
// destination is removed when force is set and an error otherwise.
func (d *Driver) transferPaths(src, dst string, force bool) (string, string, error) {
	sp, err := d.resolve(src)
	if err != nil {
		return "", "", err
	}
	dp, err := d.resolve(dst)
	if err != nil {
		return "", "", err
	}
	if _, err := os.Lstat(sp); err != nil {
		return "", "", fmt.Errorf("sim: %s: %w", src, unwrapPathError(err))
	}
	if d.isDatastoreRoot(sp) || d.isDatastoreRoot(dp) {
		return "", "", fmt.Errorf("sim: a datastore's root cannot be moved or replaced: %w", fs.ErrPermission)
	}
	if err := isDir(filepath.Dir(dp), dst+"/.."); err != nil {
		return "", "", err
	}
	if _, err := os.Lstat(dp); err == nil {
		if !force {
			return "", "", fmt.Errorf("sim: %s: %w", dst, fs.ErrExist)
		}
		if err := os.RemoveAll(dp); err != nil {
			return "", "", fmt.Errorf("sim: replace %s: %w", dst, err)
		}
	}
	return sp, dp, nil
}

// OpenFile implements driver.Files.
func (d *Driver) OpenFile(ctx context.Context, path string) (io.ReadSeekCloser, error) {
	p, err := d.resolve(path)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("sim: open %s: %w", path, unwrapPathError(err))
	}
	if fi, err := f.Stat(); err == nil && fi.IsDir() {
		f.Close()
		return nil, fmt.Errorf("sim: open %s: %w", path, driver.ErrIsDirectory)
	}
	return f, nil
}

// CreateFile implements driver.Files.
func (d *Driver) CreateFile(ctx context.Context, path string) (io.WriteCloser, error) {
	p, err := d.resolve(path)
	if err != nil {
		return nil, err
	}
	if fi, err := os.Stat(p); err == nil && fi.IsDir() {
		return nil, fmt.Errorf("sim: create %s: %w", path, driver.ErrIsDirectory)
	}
	f, err := os.Create(p)
	if err != nil {
		return nil, fmt.Errorf("sim: create %s: %w", path, unwrapPathError(err))
	}
	return f, nil
}

// CreateDisk implements driver.Files.
func (d *Driver) CreateDisk(ctx context.Context, path string, capacityBytes int64) error {
	p, err := d.resolve(path)
	if err != nil {
		return err
	}
	if err := createSparse(p, capacityBytes); err != nil {
		return fmt.Errorf("sim: create disk %s: %w", path, unwrapPathError(err))
	}
	return nil
}

// createSparse creates the file p (which must not exist) as a sparse file
// of size bytes.
func createSparse(p string, size int64) error {
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
		return fmt.Errorf("sim: %s: %w", path, unwrapPathError(err))
	}
	if !fi.IsDir() {
		return fmt.Errorf("sim: %s: %w", path, driver.ErrNotDirectory)
	}
	return nil
}

// unwrapPathError drops the host file name an *fs.PathError carries, which
// means nothing to a client, keeping its cause.
func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		if errors.Is(pe.Err, syscall.ENOTDIR) {
			return fs.ErrNotExist
		}
		return pe.Err
	}
	return err
}

func fileInfo(fi fs.FileInfo) driver.FileInfo {
	out := driver.FileInfo{Name: fi.Name(), Size: fi.Size(), ModTime: fi.ModTime(), IsDir: fi.IsDir()}
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
	if _, err := driver.CopySparse(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
