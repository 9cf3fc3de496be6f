package atomicfile

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// failingFile fails its writes after limit bytes.
type failingFile struct {
	*os.File
	limit int
}

var errInjected = errors.New("injected write failure")

func (f *failingFile) Write(p []byte) (int, error) {
	if len(p) > f.limit {
		n, _ := f.File.Write(p[:f.limit])
		f.limit = 0
		return n, errInjected
	}
	f.limit -= len(p)
	return f.File.Write(p)
}

func writeString(s string) func(io.Writer) error {
	return func(w io.Writer) error { _, err := io.WriteString(w, s); return err }
}

// names returns the names of the files in dir.
func names(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var ns []string
	for _, e := range es {
		ns = append(ns, e.Name())
	}
	return ns
}

func TestWrite(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "file")
	big := strings.Repeat("new", 50000) // 150 kB: past the 64 kB buffer
	for _, tc := range []struct {
		content string
		perm    fs.FileMode
	}{
		{"first", 0o644},
		{big, 0o600}, // replaces the file, mode and all
		{"", 0o644},
	} {
		if err := Write(path, tc.perm, writeString(tc.content)); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != tc.content {
			t.Errorf("got %d bytes, want %d", len(b), len(tc.content))
		}
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := st.Mode().Perm(); got != tc.perm {
			t.Errorf("got mode %v, want %v", got, tc.perm)
		}
		if got := names(t, dir); len(got) != 1 {
			t.Errorf("got files %v, want only file (no temporary left)", got)
		}
	}
}

// TestWriteFails checks that a failed write returns the error, leaves the
// old file and no temporary file. Not parallel: it replaces createTemp.
func TestWriteFails(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "file")
	if err := Write(path, 0o644, writeString("old")); err != nil {
		t.Fatal(err)
	}
	orig := createTemp
	defer func() { createTemp = orig }()
	big := bytes.Repeat([]byte("new"), 50000)
	errFill := errors.New("fill failed")
	for _, tc := range []struct {
		name  string
		limit int   // bytes the file accepts; -1: no limit
		fill  error // error fill returns after writing big
		want  error
	}{
		{"file fails at once", 0, nil, errInjected},
		{"file fails after 1 byte", 1, nil, errInjected},
		{"file fails past the buffer", 70000, nil, errInjected},
		{"fill fails", -1, errFill, errFill},
	} {
		createTemp = func(dir, pattern string) (tempFile, error) {
			f, err := os.CreateTemp(dir, pattern)
			if err != nil || tc.limit < 0 {
				return f, err
			}
			return &failingFile{File: f, limit: tc.limit}, nil
		}
		err := Write(path, 0o644, func(w io.Writer) error {
			if _, err := w.Write(big); err != nil {
				return err
			}
			return tc.fill
		})
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: got error %v, want %v", tc.name, err, tc.want)
		}
		if b, _ := os.ReadFile(path); string(b) != "old" {
			t.Errorf("%s: file holds %d bytes after a failed write, want the old 3", tc.name, len(b))
		}
		if got := names(t, dir); len(got) != 1 {
			t.Errorf("%s: got files %v, want only file (no temporary left)", tc.name, got)
		}
	}
}

func TestCreateError(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "missing", "file")
	err := Write(path, 0o644, writeString("x"))
	var ce *CreateError
	if !errors.As(err, &ce) {
		t.Fatalf("got error %v (%T), want a *CreateError", err, err)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("got error %v, want one wrapping fs.ErrNotExist", err)
	}
	if got, want := err.Error(), ce.Err.Error(); got != want {
		t.Errorf("got message %q, want that of the wrapped error %q", got, want)
	}
	// A failed write is not a CreateError.
	err = Write(filepath.Join(t.TempDir(), "file"), 0o644, func(io.Writer) error { return errInjected })
	if errors.As(err, &ce) || !errors.Is(err, errInjected) {
		t.Errorf("got error %v (%T), want the fill error, not a *CreateError", err, err)
	}
}

func TestWriteTemp(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "file")
	tmp, err := WriteTemp(path, 0o644, writeString("content"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := filepath.Dir(tmp), dir; got != want {
		t.Errorf("got temporary file in %s, want %s (same folder as path)", got, want)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("got %v for path, want it not to exist before the caller moves the file", err)
	}
	if b, err := os.ReadFile(tmp); err != nil || string(b) != "content" {
		t.Errorf("got %q, %v in the temporary file, want \"content\"", b, err)
	}
	if err := os.Link(tmp, path); err != nil {
		t.Fatal(err)
	}
	os.Remove(tmp)
	SyncDir(path)
	if b, err := os.ReadFile(path); err != nil || string(b) != "content" {
		t.Errorf("got %q, %v, want \"content\"", b, err)
	}
	// A failed fill leaves nothing.
	if _, err := WriteTemp(path, 0o644, func(io.Writer) error { return errInjected }); !errors.Is(err, errInjected) {
		t.Errorf("got error %v, want the fill error", err)
	}
	if got := names(t, dir); len(got) != 1 {
		t.Errorf("got files %v, want only file", got)
	}
}
