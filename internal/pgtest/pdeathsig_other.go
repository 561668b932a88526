//go:build !linux

package pgtest

import "syscall"

// setParentDeathSignal does nothing where the OS has no parent-death signal: the stop function is the only guard.
func setParentDeathSignal(*syscall.SysProcAttr) {}
