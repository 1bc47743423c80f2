package driver

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// FileInfo describes one file or directory on a datastore.
type FileInfo struct {
	// Name is the base name of the file.
	Name    string
	Size    int64
	ModTime time.Time
	IsDir   bool
	// Owner is the owning user's name, empty when unknown.
	Owner string
}

// Files gives access to the files on a host's datastores. Every path is a
// datastore path, "[ds] dir/file" ("[ds]" alone is the datastore's root).
// A Driver may implement it; the server uses it for FileManager, the
// datastore browser and the /folder HTTP endpoint.
//
// Errors wrap fs.ErrNotExist for a missing file or parent directory,
// fs.ErrExist for a destination that exists, ErrDatastoreNotFound for an
// unknown datastore and ErrNotDirectory / ErrIsDirectory where a directory
// (or a file) was needed.
type Files interface {
	// Stat describes the file at path.
	Stat(ctx context.Context, path string) (FileInfo, error)
	// ReadDir lists the directory at path, sorted by name.
	ReadDir(ctx context.Context, path string) ([]FileInfo, error)
	// Mkdir creates the directory at path; parents also creates missing
	// parent directories (and then an existing directory is not an error).
	Mkdir(ctx context.Context, path string, parents bool) error
	// Remove deletes the file or directory (with its contents) at path. A
	// datastore's root cannot be removed.
	Remove(ctx context.Context, path string) error
	// Move renames src to dst, which may be on another datastore of the
	// host; force replaces an existing dst.
	Move(ctx context.Context, src, dst string, force bool) error
	// Copy copies the file or directory src to dst; force replaces an
	// existing dst.
	Copy(ctx context.Context, src, dst string, force bool) error
	// OpenFile opens the regular file at path for reading.
	OpenFile(ctx context.Context, path string) (io.ReadSeekCloser, error)
	// CreateFile creates or truncates the regular file at path for writing; its
	// parent directory must exist.
	CreateFile(ctx context.Context, path string) (io.WriteCloser, error)
	// CreateDisk creates the virtual disk file at path with the given
	// capacity, thin (sparse); its parent directory must exist and path must
	// not.
	CreateDisk(ctx context.Context, path string, capacityBytes int64) error
}

// Errors returned by Files implementations.
var (
	// ErrNotDirectory is returned when a directory was needed.
	ErrNotDirectory = errors.New("driver: not a directory")
	// ErrIsDirectory is returned when a regular file was needed.
	ErrIsDirectory = errors.New("driver: is a directory")
)

// sparseChunk is the unit CopySparse checks for zeros.
const sparseChunk = 1 << 20

// chunkPool holds CopySparse's buffers: most copies are small files (a
// VM's configuration), and a new megabyte for each would be garbage.
var chunkPool = sync.Pool{New: func() any { b := make([]byte, sparseChunk); return &b }}

// CopySparse copies r to w like io.Copy, but when w is an io.Seeker it
// keeps a thin (sparse) file thin: it copies only the data extents of r
// when r is a file that reports them (SEEK_DATA), and otherwise seeks over
// whole chunks of zeros instead of writing them. It returns the size copied.
func CopySparse(w io.Writer, r io.Reader) (int64, error) {
	ws, ok := w.(io.WriteSeeker)
	if !ok {
		return io.Copy(w, r)
	}
	if rs, ok := r.(io.ReadSeeker); ok {
		if n, done, err := copyExtents(ws, rs); done {
			return n, err
		}
	}
	bp := chunkPool.Get().(*[]byte)
	defer chunkPool.Put(bp)
	buf := *bp
	var n int64
	skipped := false
	for {
		m, err := io.ReadFull(r, buf)
		if m > 0 {
			if isZero(buf[:m]) {
				if _, serr := ws.Seek(int64(m), io.SeekCurrent); serr != nil {
					return n, serr
				}
				skipped = true
			} else {
				if _, werr := ws.Write(buf[:m]); werr != nil {
					return n, werr
				}
				skipped = false
			}
			n += int64(m)
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			return n, err
		}
	}
	if skipped { // a trailing hole: write the last byte to set the size
		if _, err := ws.Seek(n-1, io.SeekStart); err != nil {
			return n, err
		}
		if _, err := ws.Write([]byte{0}); err != nil {
			return n, err
		}
	}
	return n, nil
}

// copyExtents copies the data extents of r to the same offsets of w and
// sets w's size to r's. done is false, with r rewound, when r cannot tell
// data from holes.
func copyExtents(w io.WriteSeeker, r io.ReadSeeker) (n int64, done bool, err error) {
	size, err := r.Seek(0, io.SeekEnd)
	if err != nil {
		return 0, false, nil
	}
	var end int64
	for end < size {
		data, err := r.Seek(end, unix.SEEK_DATA)
		if errors.Is(err, unix.ENXIO) {
			break // only a hole is left
		}
		if err != nil {
			if end == 0 {
				_, rerr := r.Seek(0, io.SeekStart)
				return 0, rerr != nil, rerr
			}
			return end, true, err
		}
		hole, err := r.Seek(data, unix.SEEK_HOLE)
		if err != nil {
			return end, true, err
		}
		if _, err := r.Seek(data, io.SeekStart); err != nil {
			return end, true, err
		}
		if _, err := w.Seek(data, io.SeekStart); err != nil {
			return end, true, err
		}
		if _, err := io.CopyN(w, r, hole-data); err != nil {
			return end, true, err
		}
		end = hole
	}
	if end < size { // a trailing hole: write the last byte to set the size
		if _, err := w.Seek(size-1, io.SeekStart); err != nil {
			return end, true, err
		}
		if _, err := w.Write([]byte{0}); err != nil {
			return end, true, err
		}
	}
	return size, true, nil
}

// zeros is a chunk of zeros to compare with (bytes.Equal is vectorized).
var zeros = make([]byte, sparseChunk)

func isZero(b []byte) bool { return bytes.Equal(b, zeros[:len(b)]) }
