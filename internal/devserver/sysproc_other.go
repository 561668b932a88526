//go:build unix && !linux

package devserver

import "syscall"

// Without Pdeathsig, the server sees agops's end as the end of its stdin (see embedded.Main).
func sysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
