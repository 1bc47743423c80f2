package guest

import (
	"bytes"
	"compress/gzip"
	"context"
	"debug/elf"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// kernelModule is a module file ready for the initramfs.
type kernelModule struct {
	name string // normalized: '-' becomes '_'
	data []byte // uncompressed .ko
}

// moduleSuffixes are the module file endings Debian kernels use; the
// compressed ones are unpacked at build time so the guest needs no
// in-kernel decompression (CONFIG_MODULE_DECOMPRESS) and no tools.
var moduleSuffixes = []string{".ko", ".ko.xz", ".ko.zst", ".ko.gz"}

// resolveModules finds guestModules and their dependencies (the
// "depends=" of each module's .modinfo section) in an unpacked kernel
// package and returns them in load order, dependencies first. Modules built
// into the kernel are skipped.
func (b *builder) resolveModules(ctx context.Context, kroot, kver string) ([]kernelModule, error) {
	var dir string
	for _, d := range []string{"lib/modules", "usr/lib/modules"} {
		if _, err := os.Stat(filepath.Join(kroot, d, kver)); err == nil {
			dir = filepath.Join(kroot, d, kver)
		}
	}
	if dir == "" {
		return nil, fmt.Errorf("guest build: no modules directory for %s in the kernel package", kver)
	}
	files, err := indexModules(dir)
	if err != nil {
		return nil, fmt.Errorf("guest build: %w", err)
	}
	builtin := builtinModules(dir)

	var order []kernelModule
	state := make(map[string]int) // 1 visiting, 2 done
	var visit func(name string, path []string) error
	visit = func(name string, path []string) error {
		switch {
		case state[name] == 2 || builtin[name]:
			return nil
		case state[name] == 1:
			return fmt.Errorf("module dependency cycle: %s", strings.Join(append(path, name), " -> "))
		}
		file, ok := files[name]
		if !ok {
			return fmt.Errorf("module %s (needed by %s) is neither built in nor in the kernel package", name, strings.Join(path, " -> "))
		}
		state[name] = 1
		data, err := readModule(ctx, file)
		if err != nil {
			return err
		}
		deps, err := moduleDepends(data)
		if err != nil {
			return fmt.Errorf("module %s: %w", name, err)
		}
		for _, d := range deps {
			if err := visit(d, append(path, name)); err != nil {
				return err
			}
		}
		state[name] = 2
		order = append(order, kernelModule{name, data})
		return nil
	}
	for _, m := range guestModules {
		if err := visit(normalizeModule(m), nil); err != nil {
			return nil, fmt.Errorf("guest build: %w", err)
		}
	}
	return order, nil
}

func normalizeModule(name string) string { return strings.ReplaceAll(name, "-", "_") }

// moduleName strips a module file's directory and suffix, or returns "".
func moduleName(file string) string {
	base := filepath.Base(file)
	for _, s := range moduleSuffixes {
		if n, ok := strings.CutSuffix(base, s); ok {
			return normalizeModule(n)
		}
	}
	return ""
}

// indexModules maps module names to files under dir.
func indexModules(dir string) (map[string]string, error) {
	files := make(map[string]string)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if n := moduleName(p); n != "" && !d.IsDir() {
			files[n] = p
		}
		return nil
	})
	return files, err
}

// builtinModules reads modules.builtin: modules compiled into the kernel.
func builtinModules(dir string) map[string]bool {
	b := make(map[string]bool)
	data, _ := os.ReadFile(filepath.Join(dir, "modules.builtin"))
	for _, line := range strings.Fields(string(data)) {
		if n := moduleName(line); n != "" {
			b[n] = true
		}
	}
	return b
}

// readModule returns a module file's contents, decompressed.
func readModule(ctx context.Context, file string) ([]byte, error) {
	switch {
	case strings.HasSuffix(file, ".ko"):
		return os.ReadFile(file)
	case strings.HasSuffix(file, ".gz"):
		f, err := os.Open(file)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		zr, err := gzip.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		return io.ReadAll(zr)
	case strings.HasSuffix(file, ".xz"):
		out, err := command(ctx, "", "xz", "-dc", file)
		return []byte(out), err
	case strings.HasSuffix(file, ".zst"):
		out, err := command(ctx, "", "zstd", "-dcq", file)
		return []byte(out), err
	}
	return nil, fmt.Errorf("%s: not a kernel module", file)
}

// moduleDepends reads the depends= entry of a module's .modinfo section.
func moduleDepends(ko []byte) ([]string, error) {
	f, err := elf.NewFile(bytes.NewReader(ko))
	if err != nil {
		return nil, err
	}
	sec := f.Section(".modinfo")
	if sec == nil {
		return nil, fmt.Errorf("no .modinfo section")
	}
	info, err := sec.Data()
	if err != nil {
		return nil, err
	}
	for _, kv := range bytes.Split(info, []byte{0}) {
		if v, ok := bytes.CutPrefix(kv, []byte("depends=")); ok {
			var deps []string
			for _, d := range strings.Split(string(v), ",") {
				if d != "" {
					deps = append(deps, normalizeModule(d))
				}
			}
			return deps, nil
		}
	}
	return nil, nil
}
