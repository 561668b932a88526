//go:build unix && !linux

package testbed

import "syscall"

// Without Pdeathsig, children outlive a parent that is killed; Stop and a
// cancelled context still end them.
func sysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
