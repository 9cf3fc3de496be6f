package atomicfile

import (
	"bufio"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// bufSize is the size of the buffer fill writes through.
const bufSize = 1 << 16

// tempFile is what WriteTemp needs of an *os.File.
type tempFile interface {
	io.Writer
	Name() string
	Chmod(fs.FileMode) error
	Sync() error
	Close() error
}

// createTemp creates the temporary file; a variable so that tests can
// inject failures.
var createTemp = func(dir, pattern string) (tempFile, error) { return os.CreateTemp(dir, pattern) }

// CreateError reports that the temporary file could not be created. Its
// message is that of Err, so wrapping changes no error text; it lets a
// caller word this failure differently from a failed write.
type CreateError struct {
	Err error
}

// Error returns the message of e.Err.
func (e *CreateError) Error() string { return e.Err.Error() }

// Unwrap returns e.Err.
func (e *CreateError) Unwrap() error { return e.Err }

// Write writes path atomically: fill writes the content (through a 64 kB
// buffer) to a temporary file in the folder of path with mode perm, which
// is synced, closed and renamed over path; then the folder is synced. On
// any error the temporary file is removed and path is untouched. Errors
// are returned as they come from the file system or fill, unwrapped, except
// that a failure to create the temporary file is a *CreateError.
func Write(path string, perm fs.FileMode, fill func(io.Writer) error) error {
	tmp, err := WriteTemp(path, perm, fill)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	SyncDir(path)
	return nil
}

// WriteTemp is the first half of Write, for callers that put the file in
// place themselves (with os.Link, say): it writes a temporary file next to
// path with fill as Write does, syncs and closes it, and returns its name.
// The caller renames or links it into place, removes it, and calls
// SyncDir. On error no temporary file is left. Errors are as for Write.
func WriteTemp(path string, perm fs.FileMode, fill func(io.Writer) error) (name string, err error) {
	f, err := createTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return "", &CreateError{Err: err}
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	// os.CreateTemp makes the file private (0600).
	if err = f.Chmod(perm); err != nil {
		return "", err
	}
	bw := bufio.NewWriterSize(f, bufSize)
	if err = fill(bw); err != nil {
		return "", err
	}
	if err = bw.Flush(); err != nil {
		return "", err
	}
	if err = f.Sync(); err != nil {
		return "", err
	}
	if err = f.Close(); err != nil {
		return "", err
	}
	return f.Name(), nil
}

// SyncDir syncs the folder holding path, so that a rename or a creation in
// it survives a crash. Some systems cannot sync a folder; the file itself
// is already safe then, so failures are ignored.
func SyncDir(path string) {
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
}
