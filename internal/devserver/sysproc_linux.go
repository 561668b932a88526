package devserver

import "syscall"

// The server gets its own process group (a Ctrl-C at the terminal reaches agops, which stops it in order) and dies
// with agops, even when agops is killed.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
