package image

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
)

// staticHint tells the user how to get a binary Build accepts.
const staticHint = "build a static one with: CGO_ENABLED=0 go build ./cmd/agops"

// archs maps the ELF machines Build accepts to OCI architectures.
var archs = map[elf.Machine]string{
	elf.EM_X86_64:  "amd64",
	elf.EM_AARCH64: "arm64",
}

// inspect checks that bin, read from path, is a statically linked Linux ELF executable and returns its OCI
// architecture.
func inspect(path string, bin []byte) (string, error) {
	f, err := elf.NewFile(bytes.NewReader(bin))
	if err != nil {
		return "", fmt.Errorf("%s is not an ELF executable (%w); the helper image needs a Linux agops binary, %s",
			path, err, staticHint)
	}
	defer f.Close()
	if err := checkExecutable(path, f); err != nil {
		return "", err
	}
	if interp, ok := interpreter(f); ok {
		return "", fmt.Errorf("%s is dynamically linked (it needs the loader %s) but the helper image holds "+
			"nothing else; %s", path, interp, staticHint)
	}
	arch, ok := archs[f.Machine]
	if !ok {
		return "", fmt.Errorf("%s is built for %s; the helper image supports amd64 and arm64", path, f.Machine)
	}
	return arch, nil
}

// checkExecutable refuses ELF files that are not Linux executables: other OS ABIs, objects, shared libraries.
// A static PIE is ET_DYN marked with DF_1_PIE, and is accepted.
func checkExecutable(path string, f *elf.File) error {
	if f.OSABI != elf.ELFOSABI_NONE && f.OSABI != elf.ELFOSABI_LINUX {
		return fmt.Errorf("%s is an ELF file for %s, not Linux; %s", path, f.OSABI, staticHint)
	}
	switch {
	case f.Type == elf.ET_EXEC:
		return nil
	case f.Type == elf.ET_DYN && isPIE(f):
		return nil
	}
	return fmt.Errorf("%s is an ELF %s, not an executable; %s", path, f.Type, staticHint)
}

func isPIE(f *elf.File) bool {
	flags, err := f.DynValue(elf.DT_FLAGS_1)
	return err == nil && len(flags) > 0 && flags[0]&uint64(elf.DF_1_PIE) != 0
}

// interpreter returns the program interpreter (dynamic loader) named by a PT_INTERP header, if f has one.
func interpreter(f *elf.File) (string, bool) {
	for _, p := range f.Progs {
		if p.Type != elf.PT_INTERP {
			continue
		}
		b := make([]byte, p.Filesz)
		if _, err := p.ReadAt(b, 0); err != nil && !errors.Is(err, io.EOF) {
			return "an unreadable PT_INTERP", true
		}
		return string(bytes.TrimRight(b, "\x00")), true
	}
	return "", false
}
